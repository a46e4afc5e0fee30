/*
 * A test-side model of Flying Scripts' loader (WordPress plugin "flying-scripts" 1.1.6,
 * inject-js.php, printed in the footer; the page rewrite is in __init__.py, after its
 * html-rewrite.php). Scripts whose tag holds a keyword of the include list get
 * data-type=lazy and a data-src attribute, and lose their src and text (an inline one's text moves
 * into a data: URL), so the parser runs nothing. On the first mouseover, keydown, touchmove or
 * touchstart, or after the timeout (default 5 s), each gets its src back. Those elements were
 * parsed empty, so the browser runs them as async scripts: in the order they arrive, not the
 * page's order; no DOMContentLoaded or load is replayed (readyState is "complete" by then), and
 * a click is not replayed either.
 */
(function (timeoutSeconds) {
  var events = ["mouseover", "keydown", "touchmove", "touchstart"];
  var timer = setTimeout(load, timeoutSeconds * 1000);
  events.forEach(function (e) { window.addEventListener(e, trigger, {passive: true}); });
  function trigger() {
    load();
    clearTimeout(timer);
    events.forEach(function (e) { window.removeEventListener(e, trigger, {passive: true}); });
  }
  function load() {
    document.querySelectorAll("script[data-type='lazy']").forEach(function (el) {
      el.setAttribute("src", el.getAttribute("data-src"));
    });
  }
})(FLYING_SCRIPTS_TIMEOUT);
