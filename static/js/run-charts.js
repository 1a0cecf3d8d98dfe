/* Simulation charts of a settlement run (settlement/run_detail.html); data from json_script. */
(function () {
  var rows = JSON.parse(document.getElementById('sim-rows').textContent);
  var bands = JSON.parse(document.getElementById('sim-bands').textContent);
  var funds = rows.filter(function (r) { return r.label.indexOf('支出（元）') > 0; });
  var series = function (name, key, list) { return { name: name, type: 'bar', data: list.map(function (r) { return Number(r[key]); }) }; };
  HealthAid.chart('chart-funds', {
    tooltip: { trigger: 'axis' }, legend: { data: ['现行政策', '草稿政策'] },
    grid: { left: 80, right: 16, bottom: 60 },
    xAxis: { type: 'category', data: funds.map(function (r) { return r.label.replace('支出（元）', ''); }), axisLabel: { interval: 0, rotate: 15 } },
    yAxis: { type: 'value', name: '元' },
    series: [series('现行政策', 'stored', funds), series('草稿政策', 'draft', funds)]
  });
  HealthAid.chart('chart-bands', {
    tooltip: { trigger: 'axis' }, legend: { data: ['现行政策', '草稿政策'] },
    grid: { left: 50, right: 16, bottom: 40 },
    xAxis: { type: 'category', data: bands.map(function (b) { return b.band; }), name: '元' },
    yAxis: { type: 'value', name: '人', minInterval: 1 },
    series: [series('现行政策', 'stored', bands), series('草稿政策', 'draft', bands)]
  });
})();
