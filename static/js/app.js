// s3relay dashboard behaviour. Every page works without this file; it adds
// copy buttons, confirmations and the CSRF header for htmx requests.
(function () {
  "use strict";

  // Styles that need this file (the collapsed navigation) key on .js.
  document.documentElement.classList.add("js");

  // On small screens the navigation folds behind a Menu button.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest(".nav-toggle");
    if (!btn) return;
    var nav = document.getElementById(btn.getAttribute("aria-controls"));
    var open = btn.getAttribute("aria-expanded") !== "true";
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    if (nav) nav.classList.toggle("open", open);
  });

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (ev) {
    ev.detail.headers["X-CSRF-Token"] = csrfToken();
    // htmx sends a form's own requests to the formaction of the button
    // clicked last: a live preview fired just after "Send test event" would
    // send the test a second time. A live form's requests go where it says.
    var elt = ev.detail.elt;
    if (elt.hasAttribute && elt.hasAttribute("data-live-form")) ev.detail.path = elt.getAttribute("hx-post");
  });

  // Copy buttons: <button data-copy="#element-id">. The text is read from the
  // element's value (inputs, textareas) or its text content.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = "value" in el && el.tagName !== "BUTTON" ? el.value : el.textContent;
    var done = function () {
      var label = btn.textContent;
      btn.textContent = "Copied";
      btn.setAttribute("aria-live", "polite");
      setTimeout(function () { btn.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      // Plain-HTTP dashboards have no Clipboard API: fall back to a selection copy.
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      document.body.removeChild(ta);
      done();
    }
  });

  // Choosing Segment's classic key layout chooses gzip, which it requires
  // (the server does the same for forms sent without this file).
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.id !== "key_preset" || el.value !== "segment_classic") return;
    var comp = el.form && el.form.querySelector("#compression");
    if (comp && comp.value !== "gzip") {
      comp.value = "gzip";
      comp.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  // Forms with data-warn-unsaved ask before the page is left with changes
  // not saved; submitting them is no reason to ask.
  var unsaved = null;
  document.addEventListener("input", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-warn-unsaved]");
    if (form && !ev.target.closest("[data-no-live]")) unsaved = form;
  });
  document.addEventListener("submit", function (ev) {
    if (ev.target === unsaved) unsaved = null;
  });
  window.addEventListener("beforeunload", function (ev) {
    if (!unsaved || !document.body.contains(unsaved)) return;
    ev.preventDefault();
    ev.returnValue = "";
  });

  // Forms with data-confirm ask before they submit (deletes, revokes).
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
})();

// Live refresh (the events page polls with htmx): no polls while the tab is
// hidden, so an open but unseen dashboard costs the server nothing. The poller
// also listens for visibilitychange, so a tab shown again refreshes at once.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeRequest", function (ev) {
    if (document.hidden && ev.detail.elt.hasAttribute("data-live-poll")) ev.preventDefault();
  });
})();

// Tabs: <div data-tabs> with role="tab" links to role="tabpanel" elements.
// Without this file every panel shows, one after the other.
(function () {
  "use strict";

  function select(tabs, tab) {
    tabs.querySelectorAll('[role="tab"]').forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
  }

  document.querySelectorAll("[data-tabs]").forEach(function (tabs) {
    var first = tabs.querySelector('[role="tab"]');
    var current = location.hash && tabs.querySelector('[role="tab"][href="' + location.hash + '"]');
    if (first) select(tabs, current || first);
  });

  document.addEventListener("click", function (ev) {
    var tab = ev.target.closest("[data-tabs] [role='tab']");
    if (!tab) return;
    ev.preventDefault();
    select(tab.closest("[data-tabs]"), tab);
    history.replaceState(null, "", tab.getAttribute("href"));
  });
})();
