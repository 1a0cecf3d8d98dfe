/* A fund's year (payments/fund_detail.html): income and outflow per month, running balance. */
(function () {
  var source = document.getElementById('fund-chart-data');
  if (!source) { return; }
  var d = JSON.parse(source.textContent);
  var num = function (list) { return list.map(Number); };
  HealthAid.chart('fund-chart', {
    tooltip: { trigger: 'axis' },
    legend: { data: ['收入', '支出', '累计余额'] },
    grid: { left: 80, right: 80, bottom: 40 },
    xAxis: { type: 'category', data: d.months },
    yAxis: [{ type: 'value', name: '元' }, { type: 'value', name: '余额（元）' }],
    series: [
      { name: '收入', type: 'bar', data: num(d.income) },
      { name: '支出', type: 'bar', data: num(d.outflow) },
      { name: '累计余额', type: 'line', yAxisIndex: 1, data: num(d.balance) }
    ]
  });
})();
