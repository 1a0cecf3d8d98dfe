/* The 费用明细 rows of the encounter entry form (claims/encounter_form.html): a code typed is
   looked up in the medical-insurance catalogue (GET /api/v1/claims/catalogue-items/?q=); a
   code found fills the line's name, category, class and unit price, a code not found shows
   「不在目录内」 (it may still be saved: the review flags it). Amount = quantity × unit price
   when the amount was not typed. Plain ES5; without script the server checks the lines. */
(function () {
  var box = document.getElementById('item-rows');
  if (!box || !window.HealthAid) { return; }
  var url = box.getAttribute('data-catalogue-url');
  var list = document.getElementById('item-catalogue');
  var known = {};  // code -> catalogue item, from every answer so far
  var CLASSES = { A: '甲类', B: '乙类', C: '丙类' };
  var totalCell = box.querySelector('[data-item-total]');

  function field(row, name) { return row.querySelector('[name$="-' + name + '"]'); }
  function trim(s) { return (s || '').replace(/^\s+|\s+$/g, ''); }
  function cents(text) {
    var n = parseFloat(trim(text));
    return isNaN(n) ? null : Math.round(n * 100);
  }

  function remember(results) {
    for (var i = 0; i < results.length; i++) { known[results[i].code] = results[i]; }
  }

  function fillList(results) {
    if (!list) { return; }
    list.innerHTML = '';
    for (var i = 0; i < results.length; i++) {
      var option = document.createElement('option');
      option.value = results[i].code;
      option.appendChild(document.createTextNode(results[i].name + '（' + CLASSES[results[i].item_class] + '）'));
      list.appendChild(option);
    }
  }

  function total() {
    var sum = 0, any = false, rows = box.querySelectorAll('[data-item-row]');
    for (var i = 0; i < rows.length; i++) {
      var c = cents(field(rows[i], 'amount').value);
      if (c !== null) { sum += c; any = true; }
    }
    if (totalCell) { totalCell.textContent = any ? (sum / 100).toFixed(2) : '—'; }
  }

  function apply(row, item) {
    var warning = row.querySelector('[data-item-warning]');
    var code = trim(field(row, 'code').value);
    if (!code) { warning.className = warning.className.replace(/ ?d-none/g, '') + ' d-none'; return; }
    if (!item || !item.active) {
      warning.className = warning.className.replace(/ ?d-none/g, '');
      return;
    }
    warning.className = warning.className.replace(/ ?d-none/g, '') + ' d-none';
    field(row, 'name').value = item.name;
    if (item.category) { field(row, 'category').value = item.category; }
    field(row, 'item_class').value = item.item_class;
    var price = field(row, 'unit_price');
    if (!trim(price.value) && item.unit_price !== null) { price.value = item.unit_price; }
    amount(row);
  }

  function lookup(row) {
    var code = trim(field(row, 'code').value);
    if (!code || known[code]) { apply(row, known[code]); return; }
    window.HealthAid.getJSON(url + '?q=' + encodeURIComponent(code), function (err, data) {
      if (err || !data.results) { return; }  // no answer: no warning either, the review decides
      remember(data.results);
      apply(row, known[code]);
    });
  }

  function amount(row) {
    var target = field(row, 'amount');
    if (trim(target.value) && !target.getAttribute('data-auto')) { total(); return; }
    var q = parseFloat(trim(field(row, 'quantity').value));
    var p = parseFloat(trim(field(row, 'unit_price').value));
    if (!isNaN(q) && !isNaN(p)) {
      target.value = (Math.round(q * p * 100) / 100).toFixed(2);
      target.setAttribute('data-auto', '1');
    }
    total();
  }

  var timer = null;
  var rows = box.querySelectorAll('[data-item-row]');
  for (var i = 0; i < rows.length; i++) {
    (function (row) {
      var code = field(row, 'code');
      code.oninput = function () {
        if (timer) { window.clearTimeout(timer); }
        var q = trim(code.value);
        if (!q) { apply(row, null); return; }
        timer = window.setTimeout(function () {
          window.HealthAid.getJSON(url + '?active=true&q=' + encodeURIComponent(q), function (err, data) {
            if (err || !data.results) { return; }
            remember(data.results);
            fillList(data.results);
            if (known[q]) { apply(row, known[q]); }
          });
        }, 250);
      };
      code.onchange = function () { lookup(row); };
      field(row, 'quantity').oninput = function () { amount(row); };
      field(row, 'unit_price').oninput = function () { amount(row); };
      field(row, 'amount').oninput = function () { field(row, 'amount').removeAttribute('data-auto'); total(); };
      if (trim(code.value)) { lookup(row); }
    })(rows[i]);
  }
  total();
})();
