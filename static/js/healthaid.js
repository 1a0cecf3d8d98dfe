/*
 * 健康扶贫医疗保障平台 — small page helpers. Plain ES5 (no build step, no jQuery) so it
 * runs on the old browsers found on township clinic laptops.
 *
 * - Progress bars: every element with data-poll-url (templates/includes/progress.html)
 *   polls that URL about once a second for
 *   {"percent": int, "stage": str, "done": bool, "redirect": url-or-null}
 *   and, when done, goes to "redirect" or reloads the page. An optional "error": str
 *   shows the message and stops polling.
 * - Filter forms (form.filter-form): give django-filter widgets Bootstrap classes.
 * - data-confirm="…" on a form or a button/link: asks before submitting or following.
 * - data-once on a form: disables its submit buttons after the first submit.
 * - data-print on a button prints the page; data-back on a link goes back in history;
 *   data-percent="…" on a progress bar sets its width.
 * - HealthAid.chart(elementOrId, option): ECharts with the Chinese locale, resized with
 *   the window (needs vendor/echarts/echarts.min.js loaded first).
 */
(function (window, document) {
  'use strict';

  var POLL_INTERVAL = 1000;   // ms between polls while things go well
  var MAX_BACKOFF = 10000;    // ms, longest wait after network errors
  var MAX_BAD_REPLIES = 3;    // unparseable replies in a row before giving up

  function each(list, fn) {
    for (var i = 0; i < list.length; i++) { fn(list[i], i); }
  }

  function $all(selector, root) {
    return (root || document).querySelectorAll(selector);
  }

  function hasClass(el, name) {
    return (' ' + el.className + ' ').indexOf(' ' + name + ' ') !== -1;
  }

  function addClass(el, name) {
    if (el.classList) { el.classList.add(name); } else if (!hasClass(el, name)) { el.className += ' ' + name; }
  }

  function removeClass(el, name) {
    if (el.classList) { el.classList.remove(name); } else {
      el.className = (' ' + el.className + ' ').replace(' ' + name + ' ', ' ').replace(/^\s+|\s+$/g, '');
    }
  }

  function setText(el, text) {
    if (!el) { return; }
    if ('textContent' in el) { el.textContent = text; } else { el.innerText = text; }
  }

  function onReady(fn) {
    if (document.readyState !== 'loading') { fn(); } else { document.addEventListener('DOMContentLoaded', fn); }
  }

  /* GET a URL and hand (error, data) to cb; data is parsed JSON. */
  function getJSON(url, cb) {
    var xhr = new XMLHttpRequest();
    var sep = url.indexOf('?') === -1 ? '?' : '&';
    var done = false;
    function finish(err, data, status) {
      if (done) { return; }
      done = true;
      cb(err, data, status);
    }
    // The timestamp stops old browsers from answering from their cache.
    xhr.open('GET', url + sep + '_=' + new Date().getTime(), true);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    try { xhr.timeout = 15000; } catch (e) { /* very old browsers */ }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      if (xhr.status === 0) { finish('network', null, 0); return; }
      if (xhr.status < 200 || xhr.status >= 300) { finish('http', null, xhr.status); return; }
      var data;
      try { data = JSON.parse(xhr.responseText); } catch (e) { finish('parse', null, xhr.status); return; }
      if (!data || typeof data !== 'object') { finish('parse', null, xhr.status); return; }
      finish(null, data, xhr.status);
    };
    xhr.ontimeout = function () { finish('network', null, 0); };
    xhr.send(null);
  }

  /* ---------- progress bars ---------- */

  function Progress(box) {
    this.box = box;
    this.url = box.getAttribute('data-poll-url');
    this.bar = box.querySelector('.progress-bar');
    this.track = box.querySelector('.progress');
    this.stage = box.querySelector('.ha-progress-stage');
    this.percent = box.querySelector('.ha-progress-percent');
    this.errorBox = box.querySelector('.ha-progress-error');
    this.failures = 0;
    this.badReplies = 0;
    this.stopped = false;
  }

  Progress.prototype.show = function (percent, stage) {
    var p = parseInt(percent, 10);
    if (isNaN(p)) { p = 0; }
    if (p < 0) { p = 0; }
    if (p > 100) { p = 100; }
    if (this.bar) { this.bar.style.width = p + '%'; }
    if (this.track) { this.track.setAttribute('aria-valuenow', String(p)); }
    setText(this.percent, p + '%');
    if (stage) { setText(this.stage, stage); }
  };

  Progress.prototype.showError = function (message) {
    if (this.errorBox) {
      setText(this.errorBox, message);
      removeClass(this.errorBox, 'd-none');
    }
  };

  Progress.prototype.clearError = function () {
    if (this.errorBox) { addClass(this.errorBox, 'd-none'); }
  };

  Progress.prototype.fail = function (message) {
    this.stopped = true;
    if (this.bar) {
      removeClass(this.bar, 'progress-bar-animated');
      addClass(this.bar, 'bg-danger');
    }
    this.showError(message);
  };

  Progress.prototype.finish = function (redirect) {
    this.stopped = true;
    if (this.bar) {
      removeClass(this.bar, 'progress-bar-animated');
      removeClass(this.bar, 'progress-bar-striped');
      addClass(this.bar, 'bg-success');
    }
    // A short pause lets the user see 100 % before the page changes.
    window.setTimeout(function () {
      if (redirect) { window.location.href = redirect; } else { window.location.reload(); }
    }, 400);
  };

  Progress.prototype.schedule = function (delay) {
    var self = this;
    if (this.stopped) { return; }
    window.setTimeout(function () { self.poll(); }, delay);
  };

  Progress.prototype.poll = function () {
    var self = this;
    if (this.stopped || !this.url) { return; }
    getJSON(this.url, function (err, data, status) {
      if (err === 'http' && (status === 401 || status === 403)) {
        self.fail('登录已失效或没有权限，请刷新页面后重新登录。');
        return;
      }
      if (err === 'http' && status === 404) {
        self.fail('找不到该任务，可能已被删除。请刷新页面。');
        return;
      }
      if (err === 'parse') {
        self.badReplies += 1;
        if (self.badReplies >= MAX_BAD_REPLIES) {
          self.fail('服务器返回了无法识别的内容（可能登录已过期），请刷新页面。');
          return;
        }
        self.schedule(POLL_INTERVAL);
        return;
      }
      if (err) {
        // Network trouble or a 5xx: keep trying, more slowly each time.
        self.failures += 1;
        self.showError('网络连接不稳定，正在重试…');
        self.schedule(Math.min(POLL_INTERVAL * Math.pow(2, self.failures), MAX_BACKOFF));
        return;
      }
      self.failures = 0;
      self.badReplies = 0;
      self.clearError();
      if (data.error) {
        self.show(data.percent, data.stage);
        self.fail(String(data.error));
        return;
      }
      self.show(data.done ? 100 : data.percent, data.stage);
      if (data.done) {
        self.finish(data.redirect || null);
        return;
      }
      self.schedule(POLL_INTERVAL);
    });
  };

  function initProgress(root) {
    each($all('[data-poll-url]', root), function (box) {
      if (box.getAttribute('data-poll-started')) { return; }
      box.setAttribute('data-poll-started', '1');
      var p = new Progress(box);
      p.poll();
    });
  }

  /* ---------- filter forms ---------- */

  function styleFilterForms(root) {
    each($all('form.filter-form', root), function (form) {
      each(form.querySelectorAll('input, select, textarea'), function (el) {
        var type = (el.getAttribute('type') || '').toLowerCase();
        if (type === 'hidden' || type === 'submit' || type === 'button' || type === 'reset') { return; }
        if (type === 'checkbox' || type === 'radio') { addClass(el, 'form-check-input'); return; }
        if (el.tagName === 'SELECT' && !el.multiple) {
          addClass(el, 'form-select'); addClass(el, 'form-select-sm');
        } else {
          addClass(el, 'form-control'); addClass(el, 'form-control-sm');
        }
      });
    });
  }

  /* ---------- confirm / submit once ---------- */

  function findUp(el, test) {
    while (el && el !== document) {
      if (el.nodeType === 1 && test(el)) { return el; }
      el = el.parentNode;
    }
    return null;
  }

  function initConfirmAndOnce() {
    document.addEventListener('click', function (event) {
      var el = findUp(event.target, function (n) {
        return n.tagName !== 'FORM' && n.hasAttribute && n.hasAttribute('data-confirm');
      });
      if (el && !window.confirm(el.getAttribute('data-confirm'))) {
        event.preventDefault();
        if (event.stopPropagation) { event.stopPropagation(); }
      }
    }, true);

    document.addEventListener('submit', function (event) {
      var form = event.target;
      if (!form || form.tagName !== 'FORM') { return; }
      if (form.hasAttribute('data-confirm') && !window.confirm(form.getAttribute('data-confirm'))) {
        event.preventDefault();
        return;
      }
      if (form.hasAttribute('data-once')) {
        if (form.getAttribute('data-submitted')) { event.preventDefault(); return; }
        form.setAttribute('data-submitted', '1');
        // Disable after the browser has collected the button's name/value.
        window.setTimeout(function () {
          each(form.querySelectorAll('button[type=submit], button:not([type]), input[type=submit]'), function (b) {
            b.disabled = true;
          });
        }, 0);
      }
    }, false);
  }

  /* ---------- charts ---------- */

  function chart(target, option) {
    var el = typeof target === 'string' ? document.getElementById(target) : target;
    if (!el || !window.echarts) { return null; }
    var c = window.echarts.init(el, null, { locale: 'ZH' });
    if (option) { c.setOption(option); }
    var timer = null;
    window.addEventListener('resize', function () {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(function () { c.resize(); }, 150);
    });
    return c;
  }

  window.HealthAid = {
    initProgress: initProgress,
    styleFilterForms: styleFilterForms,
    getJSON: getJSON,
    chart: chart
  };

  // Behaviour that used to be inline in templates (onclick="…", href="javascript:…",
  // style="width: …"): the Content-Security-Policy runs no inline script or style.
  function initDataActions(root) {
    each($all('[data-percent]', root), function (bar) {
      bar.style.width = (parseInt(bar.getAttribute('data-percent'), 10) || 0) + '%';
    });
    each($all('[data-print]', root), function (el) {
      el.addEventListener('click', function () { window.print(); });
    });
    each($all('[data-back]', root), function (el) {
      el.addEventListener('click', function (ev) {
        if (window.history.length > 1) { ev.preventDefault(); window.history.back(); }
      });
    });
  }

  onReady(function () {
    initDataActions(document);
    styleFilterForms(document);
    initProgress(document);
    initConfirmAndOnce();
  });
})(window, document);

// List filters: the 行政村 select follows the 乡镇 select (registry.pages.page_filters marks
// them): choosing a township clears the village and reloads the form, whose village choices
// are then that township's.
(function () {
  var leads = document.querySelectorAll('form.filter-form select[data-leads="township"]');
  for (var i = 0; i < leads.length; i++) {
    leads[i].addEventListener('change', function () {
      var village = this.form.querySelector('select[data-follows="township"]');
      if (village) { village.value = ''; }
      this.form.submit();
    });
  }
})();

// An encounter saved a moment ago: its settlement box says 结算中 and polls the status
// endpoint (scoped like the page) until the settlement is done, then reloads the page.
(function () {
  var box = document.getElementById('settlement-pending');
  if (!box || !window.HealthAid) { return; }
  var tries = 0;
  function poll() {
    tries += 1;
    window.HealthAid.getJSON(box.getAttribute('data-status-url'), function (err, data) {
      if (!err && data && data.state && data.state !== 'pending') { window.location.reload(); return; }
      if (tries >= 90) { box.innerHTML = '结算用时较长，请稍后刷新本页查看。'; return; }
      window.setTimeout(poll, tries < 10 ? 1000 : 3000);
    });
  }
  window.setTimeout(poll, 1000);
})();
