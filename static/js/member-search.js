/* Patient search of the encounter and illness forms (claims/_member_search.html). */
(function () {
  var input = document.querySelector('[data-member-search]');
  var hidden = document.querySelector('input[name="member"]');
  var box = document.getElementById('member-results');
  var url = box && box.getAttribute('data-url');
  if (!input || !hidden || !box || !window.HealthAid) { return; }
  input.parentNode.appendChild(box);
  var timer = null;
  // "input", not "keyup": pasted text and Chinese input methods (which insert the
  // characters without key events) must search too, and must forget a person chosen before.
  input.oninput = function () {
    hidden.value = '';
    if (timer) { window.clearTimeout(timer); }
    var q = input.value.replace(/^\s+|\s+$/g, '');
    if (q.length < 2) { box.innerHTML = ''; return; }
    timer = window.setTimeout(function () {
      window.HealthAid.getJSON(url + '?q=' + encodeURIComponent(q), function (err, data) {
        box.innerHTML = '';
        if (err || !data.results) { return; }
        for (var i = 0; i < data.results.length; i++) {
          (function (item) {
            var b = document.createElement('button');
            b.type = 'button';
            b.className = 'list-group-item list-group-item-action';
            b.appendChild(document.createTextNode(item.label));
            b.onclick = function () { hidden.value = item.id; input.value = item.label; box.innerHTML = ''; };
            box.appendChild(b);
          })(data.results[i]);
        }
      });
    }, 300);
  };
})();
