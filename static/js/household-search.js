// The signing box of the contract list: suggestions of households (head's name, ID number or
// 户编号) from claims:household_search; picking one opens its signing form.
window.addEventListener('load', function () {  // after healthaid.js (end of <body>)
  var input = document.getElementById('sign-number');
  var box = document.getElementById('household-results');
  if (!input || !box || !window.HealthAid) { return; }
  var url = input.getAttribute('data-search-url');
  var timer = null;
  input.addEventListener('input', function () {
    if (timer) { window.clearTimeout(timer); }
    var q = input.value.replace(/^\s+|\s+$/g, '');
    if (q.length < 2) { box.innerHTML = ''; return; }
    timer = window.setTimeout(function () {
      window.HealthAid.getJSON(url + '?q=' + encodeURIComponent(q), function (err, data) {
        box.innerHTML = '';
        if (err || !data.results) { return; }
        for (var i = 0; i < data.results.length; i++) {
          var a = document.createElement('a');
          a.className = 'list-group-item list-group-item-action';
          a.href = data.results[i].url;
          a.appendChild(document.createTextNode(data.results[i].label));
          box.appendChild(a);
        }
      });
    }, 300);
  });
});
