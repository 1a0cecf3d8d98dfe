/*
 * 统计与公示 pages: draw each chart from the JSON its page embeds (data-chart="<id of a
 * json_script element>"), and show the quarter / month selector only for that period.
 * Plain ES5 like static/js/healthaid.js; needs echarts.min.js and healthaid.js first.
 */
(function (window, document) {
  'use strict';

  function each(list, fn) { for (var i = 0; i < list.length; i++) { fn(list[i]); } }

  function drawCharts() {
    each(document.querySelectorAll('[data-chart]'), function (el) {
      var source = document.getElementById(el.getAttribute('data-chart'));
      if (!source || !window.HealthAid) { return; }
      var option;
      try { option = JSON.parse(source.textContent); } catch (e) { return; }
      window.HealthAid.chart(el, option);
    });
  }

  function periodParts() {
    var select = document.getElementById('id_period');
    if (!select) { return; }
    function update() {
      each(document.querySelectorAll('[data-period-part]'), function (part) {
        var shown = part.getAttribute('data-period-part') === select.value;
        part.style.display = shown ? '' : 'none';
        each(part.querySelectorAll('select'), function (s) { s.disabled = !shown; });
      });
    }
    select.addEventListener('change', update);
    update();
  }

  function printButtons() {
    each(document.querySelectorAll('[data-print]'), function (button) {
      button.addEventListener('click', function () { window.print(); });
    });
  }

  function ready() { drawCharts(); periodParts(); printButtons(); }

  if (document.readyState !== 'loading') { ready(); } else { document.addEventListener('DOMContentLoaded', ready); }
})(window, document);
