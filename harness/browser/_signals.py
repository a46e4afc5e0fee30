"""What the harness adds to every page of a routed context, and how it reads the page back.

* The generated code's warnings (contract B of issue 13): the generated code dispatches a
  `klaviyo-snippets:warning` DOM event on `window` for everything it drops or leaves out; an init
  script posts each one to the stand-in's `POST /__stub__/diagnostics` as the onsite script posts
  its own diagnostics (text/plain JSON, so no CORS preflight), with `source: "generated code"`.
  The stand-in records a `"dropped"` one as a dropped event; a `"warning"` stays a diagnostic.
* Whether the page is leaving: set when a cross-document navigation starts (the Navigation API's
  `navigate` event, else `beforeunload`), so a waiter knows a click's navigation is still to come;
  unset when the page's own code intercepted (a router) or cancelled it instead.
* When nothing is left to send (`IDLE_JS`): the page has loaded, the stand-in onsite script is
  idle (`window.__klaviyoStub.idle()`: no request unanswered, no identify debounce or 429 retry
  pending) and every warning posted here has been answered. Event-driven: no quiet window.
  `window.__klaviyoSnippetsHarness.close()` ends the posting (verify, once a visit is over) and
  resolves once what was posted has been answered.
* Identifying the visitor before the page's own code runs (`identify_visitor`).

Everything here runs before the page's scripts and keeps its own references to what it uses
(`fetch`, `JSON.stringify`), so a page that replaces them changes nothing.
"""

from __future__ import annotations

import json

__all__ = ["HARNESS_GLOBAL", "WARNING_EVENT", "PENDING_JS", "IDLE_JS", "capture_script", "identify_script",
           "identify_visitor"]

WARNING_EVENT = "klaviyo-snippets:warning"
HARNESS_GLOBAL = "__klaviyoSnippetsHarness"
DIAGNOSTICS_PATH = "/__stub__/diagnostics"
REASON_CHARS = 4000  # per text field: the stand-in takes diagnostics up to 10 MB

_CAPTURE_JS = """(function (w, url, name, global, most) {
  if (w[global]) { return; }
  var post = w.fetch, stringify = JSON.stringify, open = 0, waiters = [], closed = false;
  function idle() {
    return new Promise(function (resolve) { waiters.push(resolve); check(); });
  }
  var h = w[global] = {
    leaving: false,
    pending: function () { return open; },
    // A Promise settled once every warning posted from this page has been answered.
    idle: idle,
    // Post no more (what this page still says belongs to no one); `idle()`.
    close: function () { closed = true; return idle(); }
  };
  function check() {
    if (!open) { var ready = waiters; waiters = []; for (var i = 0; i < ready.length; i++) { ready[i](); } }
  }
  function sent() { open -= 1; check(); }
  function text(v) { return v == null ? null : String(v).slice(0, most); }
  w.addEventListener(name, function (e) {
    if (closed) { return; }
    var d = e.detail || {};
    var body = stringify({
      type: d.kind === 'dropped' ? 'dropped' : 'warning', source: 'generated code',
      metric: text(d.event), reason: text(d.reason), property: text(d.property),
      page: String(w.location.href), time: new Date().toISOString()
    });
    open += 1;
    try {
      post.call(w, url, {method: 'POST', body: body, keepalive: true,
                         headers: {'Content-Type': 'text/plain;charset=UTF-8'}}).then(sent, sent);
    } catch (x) { sent(); }
  }, true);
  function leave() { h.leaving = true; }
  function stay() { h.leaving = false; }
  if (w.navigation && w.navigation.addEventListener) {
    w.navigation.addEventListener('navigate', function (e) { if (!e.destination.sameDocument) { leave(); } });
    // The page's own handlers may still intercept it (a router: it stays in this document) or
    // cancel it; either settles it here, where a navigation that leaves never does.
    w.navigation.addEventListener('navigatesuccess', stay);
    w.navigation.addEventListener('navigateerror', stay);
  } else {
    w.addEventListener('beforeunload', leave);
  }
})(window, %s, %s, %s, %d);"""

# What a page still has to send to Klaviyo, counted by kind: the stand-in onsite script's open
# work (`window.__klaviyoStub.pending()`: requests not yet answered, 429 retries, an identify
# debounce), warnings posted here and not yet answered, and the page's calls still queued for an
# onsite script that has not run (`_klOnsite`, `_learnq`). A function expression, no arguments.
PENDING_JS = """function () {
  var out = {}, stub = window.__klaviyoStub, open = stub && typeof stub.pending === 'function' ? stub.pending() : [];
  var h = window.%s;
  function add(what, n) { if (n > 0) { out[what] = (out[what] || 0) + n; } }
  for (var i = 0; i < open.length; i++) { add(String(open[i]), 1); }
  add('POST %s (generated code warnings)', h && typeof h.pending === 'function' ? h.pending() : 0);
  function queued(q) {  // the page's own calls: the harness's identify (`identify_script`) is not
    var n = 0;
    for (var j = 0; Array.isArray(q) && j < q.length; j++) { if (!(q[j] && q[j].%s)) { n += 1; } }
    return n;
  }
  add('call(s) queued for an onsite script that never ran', queued(window._klOnsite) + queued(window._learnq));
  return out;
}""" % (HARNESS_GLOBAL, DIAGNOSTICS_PATH, HARNESS_GLOBAL)

# `ms => Promise<{pending, leaving, loaded}>`: resolves once the page has loaded and has nothing left to
# send (`pending` empty), or when only calls queued for an onsite script that never ran are left
# (nothing will change them), or after `ms` with what is still open. `leaving`: a cross-document
# navigation has started (a click's, or the generated code's once its navigation hold ends).
# Checked one task after everything went idle: what finishing work starts (a held navigation)
# has started by then.
IDLE_JS = """function (ms) {
  var pending = (%s);
  return new Promise(function (resolve) {
    var done = false, timer = setTimeout(finish, ms);
    function finish() {
      if (done) { return; }
      done = true;
      clearTimeout(timer);
      var h = window.%s;
      resolve({pending: pending(), leaving: !!(h && h.leaving), loaded: document.readyState === 'complete'});
    }
    function idle(o) { return o && typeof o.idle === 'function' ? o.idle() : null; }
    function round() {
      Promise.all([idle(window.__klaviyoStub), idle(window.%s)]).then(function () {
        setTimeout(function () {
          var open = pending(), kinds = Object.keys(open);
          if (!kinds.length || (kinds.length === 1 && /^call\\(s\\) queued/.test(kinds[0]))) { finish(); } else { round(); }
        }, 0);
      });
    }
    if (document.readyState === 'complete') { round(); }
    else { window.addEventListener('load', function () { setTimeout(round, 0); }); }
  });
}""" % (PENDING_JS, HARNESS_GLOBAL, HARNESS_GLOBAL)


def capture_script(stub_url: str) -> str:
    """The init script that posts the generated code's warnings to the stand-in at `stub_url`
    (`https://a.klaviyo.com` when that is routed there); `route_to_stub` adds it to every page."""
    url = stub_url.rstrip("/") + DIAGNOSTICS_PATH
    return _CAPTURE_JS % (json.dumps(url), json.dumps(WARNING_EVENT), json.dumps(HARNESS_GLOBAL), REASON_CHARS)


def identify_script(email: str) -> str:
    """An init script that identifies the visitor by `email` before the page's own code runs:
    the call is queued where the onsite script finds it, and it handles identify first."""
    if not isinstance(email, str) or not email.strip():
        raise ValueError(f"identify needs an email address, got {email!r}")
    # Marked as the harness's: a page with no onsite script has not left it unsent.
    return ("(function () { var q = window._learnq = window._learnq || [];"
            f" var call = ['identify', {{'$email': {_script_json(email)}}}]; call.{HARNESS_GLOBAL} = true;"
            " q.push(call); })();")


def identify_visitor(context, email: str) -> None:
    """Identify the visitor by `email` on every page of a sync `context` (`identify_script`)."""
    context.add_init_script(identify_script(email))


def _script_json(value) -> str:
    """JSON that is also safe inside an inline script."""
    return json.dumps(value).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
