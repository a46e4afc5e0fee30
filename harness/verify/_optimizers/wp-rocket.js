/*
 * A test-side model of WP Rocket's "Delay JavaScript execution" loader: RocketLazyLoadScripts
 * 2.0.5, the inline script WP Rocket 3.17+ prints first in <head> (the 1.2.x loader before it
 * queried type="rocketlazyloadscript"; the page rewrite is in __init__.py, after WP Rocket's
 * inc/Engine/Optimization/DelayJS/HTML.php). Written from the loader's behaviour, not copied;
 * what it keeps of it, in the order the real one runs:
 *
 *  - every user event (USER_EVENTS, visibilitychange) is caught on window: the first one that
 *    counts (not the first mousemove, not keyup/mouseover/mouseout) starts the loading; every
 *    one until the end is stopped (a click's default is prevented) and saved for replay;
 *  - EventTarget.prototype.addEventListener/removeEventListener are patched from the start:
 *    listeners for user events, and after the first action those for DOMContentLoaded, load,
 *    pageshow, readystatechange, are held back (whoever registers them, delayed or not);
 *  - once the first action and the real DOMContentLoaded have both happened: document.readyState
 *    is redefined and set to "loading"; window.onload, window.onpageshow and
 *    document.onreadystatechange assignments are kept aside; the delayed scripts run one by one
 *    (normal, then defer, then async; each waits for the previous one's load): in Chromium the
 *    element itself gets its type back and a src (its own, or a data: URL of its text), in
 *    Firefox (and Safari) a copy replaces it (an inline copy runs as it is inserted);
 *  - readyState "interactive", then held readystatechange and DOMContentLoaded listeners are
 *    attached as "rocket-<type>" and those events dispatched (document, then window); scripts
 *    the delayed ones injected (with a src) are waited for, at most 1 s each; the real window
 *    load is waited for; readyState "complete", readystatechange, load, pageshow likewise;
 *  - "rocket-allScriptsLoaded", then the prototype is restored, the held listeners attached,
 *    and every saved user event re-dispatched on its target (a click that started it all is
 *    clicked again, now with every delayed listener in place).
 *
 * Left out (no effect on these pages): jQuery ready/load rewriting, document.write, inline
 * on<event> attributes, preconnect/preload links, the CSP data: fallback, iOS touch synthesis.
 */
(function () {
  var USER_EVENTS = ["keydown", "keyup", "mousedown", "mouseup", "mousemove", "mouseover", "mouseout",
    "touchmove", "touchstart", "touchend", "touchcancel", "wheel", "click", "dblclick", "input"];
  var proto = EventTarget.prototype, add = proto.addEventListener, remove = proto.removeEventListener;
  var INTERNAL = {isRocket: true};
  var triggered = false, firstMoveIgnored = false, everythingLoaded = false, realLoad = false;
  var saved = [], held = [], onFirstAction = null, lastBreath = 0, pending = [];

  function lifecycle(type, target) {
    return (target === document && (type === "readystatechange" || type === "DOMContentLoaded")) ||
      (target === window && (type === "DOMContentLoaded" || type === "load" || type === "pageshow"));
  }
  function passesThrough(type, target, options) {
    var life = lifecycle(type, target || window);
    return (options && options.isRocket) || (!life && USER_EVENTS.indexOf(type) < 0) ||
      (life && !triggered) || type.indexOf("rocket-") === 0 || everythingLoaded;
  }
  proto.addEventListener = function (type, fn, options) {
    if (passesThrough(type, this, options)) return add.call(this, type, fn, options);
    held.push({target: this, type: type, fn: fn, options: options, remove: false});
  };
  proto.removeEventListener = function (type, fn, options) {
    if (passesThrough(type, this, options)) return remove.call(this, type, fn, options);
    held.push({target: this, type: type, fn: fn, options: options, remove: true});
  };
  function apply(h) { (h.remove ? remove : add).call(h.target, h.type, h.fn, h.options); }
  function attachHeld(target, type) {  // the held listeners of one lifecycle event, as rocket-<type>
    held = held.filter(function (h) {
      if (h.type !== type || (h.target || window) !== target) return true;
      if (lifecycle(type, target)) h.type = "rocket-" + type;
      apply(h);
      return false;
    });
  }

  function onUserEvent(e) {
    if (!triggered) {
      if (e.type === "mousemove" && !firstMoveIgnored) firstMoveIgnored = true;
      else if (e.type !== "keyup" && e.type !== "mouseover" && e.type !== "mouseout") {
        triggered = true;
        if (onFirstAction) onFirstAction();
      }
    }
    if (e.type === "click") e.preventDefault();
    e.stopPropagation();
    e.stopImmediatePropagation();
    saved.push(e);
  }
  USER_EVENTS.forEach(function (t) { add.call(window, t, onUserEvent, {passive: false, isRocket: true}); });
  add.call(document, "visibilitychange", onUserEvent, INTERNAL);
  add.call(window, "pageshow", function (e) { window.__rocketPersisted = e.persisted; realLoad = true; }, INTERNAL);

  var firstAction = new Promise(function (resolve) { if (triggered) resolve(); else onFirstAction = resolve; });
  var domReady = new Promise(function (resolve) { add.call(document, "DOMContentLoaded", resolve, INTERNAL); });

  function breathe() {  // yields a frame when the loader has held the main thread for over 45 ms
    if (Date.now() - lastBreath <= 45) return Promise.resolve();
    return new Promise(function (resolve) {
      (document.hidden ? setTimeout : requestAnimationFrame)(function () { lastBreath = Date.now(); resolve(); });
    });
  }
  function frame() {
    return new Promise(function (resolve) { (document.hidden ? setTimeout : requestAnimationFrame)(resolve); });
  }

  function mockReadyState() {
    ["onreadystatechange", "onload", "onpageshow"].forEach(function (name) {
      var target = name === "onreadystatechange" ? document : window, value = target[name];
      target[name] = null;
      Object.defineProperty(target, name, {
        configurable: true,
        get: function () { return value; },
        set: function (v) { if (everythingLoaded) value = v; else target["rocket" + name] = value = v; }
      });
    });
    var state;
    Object.defineProperty(document, "readyState", {
      configurable: true, get: function () { return state; }, set: function (v) { state = v; }
    });
    document.readyState = "loading";
  }

  function watchInjected() {  // scripts with a src that the delayed scripts insert
    var observer = new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.tagName !== "SCRIPT" || !n.src || n.noModule || n.isWPRocket) return;
          var entry = {script: n};
          entry.promise = new Promise(function (resolve) {
            function done() { var i = pending.indexOf(entry); if (i >= 0) pending.splice(i, 1); resolve(); }
            add.call(n, "load", done, INTERNAL);
            add.call(n, "error", done, INTERNAL);
            setTimeout(done, 1000);
          });
          pending.push(entry);
        });
      });
    });
    observer.observe(document, {childList: true, subtree: true});
    return observer;
  }

  function runOne(el) {
    return breathe().then(function () {
      if (el.noModule && "noModule" in HTMLScriptElement.prototype) return;
      return new Promise(function (resolve) {
        var copy;
        function executed() { (copy || el).setAttribute("data-rocket-status", "executed"); resolve(); }
        try {
          if (navigator.userAgent.indexOf("Firefox/") > 0 || navigator.vendor === "") {
            copy = document.createElement("script");
            [].slice.call(el.attributes).forEach(function (a) {
              var name = a.nodeName;
              if (name === "type") return;
              if (name === "data-rocket-type") name = "type";
              if (name === "data-rocket-src") name = "src";
              copy.setAttribute(name, a.nodeValue);
            });
            if (el.text) copy.text = el.text;
            copy.isWPRocket = true;
            if (copy.hasAttribute("src")) {
              add.call(copy, "load", executed, INTERNAL);
              add.call(copy, "error", function () { copy.setAttribute("data-rocket-status", "failed-network"); resolve(); }, INTERNAL);
              setTimeout(function () { if (!copy.isConnected) resolve(); }, 1);
              el.parentNode.replaceChild(copy, el);
            } else {
              el.parentNode.replaceChild(copy, el);  // an inline copy runs here, as it is inserted
              executed();
            }
          } else {
            var type = el.getAttribute("data-rocket-type"), src = el.getAttribute("data-rocket-src");
            if (type) { el.type = type; el.removeAttribute("data-rocket-type"); } else el.removeAttribute("type");
            add.call(el, "load", executed, INTERNAL);
            add.call(el, "error", function () { el.setAttribute("data-rocket-status", "failed-network"); resolve(); }, INTERNAL);
            if (src) { el.removeAttribute("data-rocket-src"); el.src = src; }
            else el.src = "data:text/javascript;base64," + btoa(unescape(encodeURIComponent(el.text)));
          }
        } catch (e) {
          el.setAttribute("data-rocket-status", "failed-transform");
          resolve();
        }
      });
    });
  }
  function runAll(list) {
    var el = list.shift();
    if (!el) return Promise.resolve();
    return (el.isConnected ? runOne(el) : Promise.resolve()).then(function () { return runAll(list); });
  }
  function injectedDone() {
    return frame().then(function () { return pending.length ? pending[0].promise.then(injectedDone) : null; });
  }

  function fire(target, type) { attachHeld(target, type); target.dispatchEvent(new Event("rocket-" + type)); }
  function steps(list) {  // each after a breath, as the loader does
    return list.reduce(function (p, step) { return p.then(breathe).then(step); }, Promise.resolve());
  }

  function run() {
    lastBreath = Date.now();
    mockReadyState();
    var delayed = {normal: [], defer: [], async: []};
    document.querySelectorAll("script[type$=rocketlazyloadscript]").forEach(function (s) {
      if (!s.hasAttribute("data-rocket-src")) delayed.normal.push(s);
      else if (s.hasAttribute("async") && s.async !== false) delayed.async.push(s);
      else if ((s.hasAttribute("defer") && s.defer !== false) || s.getAttribute("data-rocket-type") === "module") delayed.defer.push(s);
      else delayed.normal.push(s);
    });
    var observer = watchInjected();
    return runAll(delayed.normal).then(function () { return runAll(delayed.defer); })
      .then(function () { return runAll(delayed.async); })
      .then(function () {
        document.readyState = "interactive";
        return steps([
          function () { fire(document, "readystatechange"); },
          function () { if (document.rocketonreadystatechange) document.rocketonreadystatechange(); },
          function () { fire(document, "DOMContentLoaded"); },
          function () { fire(window, "DOMContentLoaded"); }
        ]);
      })
      .then(injectedDone).then(function () { observer.disconnect(); })
      .then(function () {
        return realLoad ? null : new Promise(function (resolve) { add.call(window, "load", resolve, INTERNAL); });
      })
      .then(function () {
        document.readyState = "complete";
        return steps([
          function () { fire(document, "readystatechange"); },
          function () { if (document.rocketonreadystatechange) document.rocketonreadystatechange(); },
          function () { fire(window, "load"); },
          function () { if (window.rocketonload) window.rocketonload(); },
          function () {
            attachHeld(window, "pageshow");
            var e = new Event("rocket-pageshow");
            e.persisted = window.__rocketPersisted;
            window.dispatchEvent(e);
          },
          function () { if (window.rocketonpageshow) window.rocketonpageshow({persisted: window.__rocketPersisted}); }
        ]);
      })
      .then(function () {
        window.dispatchEvent(new Event("rocket-allScriptsLoaded"));
        everythingLoaded = true;
        proto.addEventListener = add;
        proto.removeEventListener = remove;
        held.forEach(apply);
        held = [];
        USER_EVENTS.forEach(function (t) { remove.call(window, t, onUserEvent, {passive: false, isRocket: true}); });
        remove.call(document, "visibilitychange", onUserEvent, INTERNAL);
        saved.forEach(function (e) { e.target.dispatchEvent(new window[e.constructor.name](e.type, e)); });
      });
  }

  Promise.all([firstAction, domReady]).then(run);
})();
