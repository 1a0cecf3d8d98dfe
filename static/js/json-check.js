/* Policy JSON syntax check (settlement/_json_check.html): data-textarea names the textarea. */
(function () {
  // Syntax check while typing; the server checks the policy rules on saving.
  var me = document.currentScript;
  var id = me && me.getAttribute('data-textarea');
  var area = id && document.getElementById(id);
  var status = id && document.getElementById(id + '-status');
  if (!area || !status) { return; }
  function check() {
    var text = area.value.replace(/^\s+|\s+$/g, '');
    if (!text) { status.className = 'small text-muted'; status.textContent = ''; return true; }
    try { JSON.parse(text); status.className = 'small text-success'; status.textContent = '✓ JSON格式正确（保存时还会检查政策规则）'; return true; }
    catch (e) { status.className = 'small text-danger'; status.textContent = '✗ JSON格式错误：' + e.message; return false; }
  }
  area.addEventListener('input', check);
  check();
  area.form.addEventListener('submit', function (ev) {
    if (!check()) { ev.preventDefault(); area.focus(); }
  });
})();
