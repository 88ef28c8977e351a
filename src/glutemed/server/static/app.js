/* glutemed clinician app: the few behaviours the pages need, without inline script (the
   Content-Security-Policy allows scripts from the app only).
   - [data-action=print]  prints the page
   - [data-action=back]   goes back in the browser history (the link's href is the fallback)
   - details.form-section  the visit form's sections: a live summary of what has been entered
   - on a finding of the visit form, the keys P, N and 0 choose positive, negative and not
     recorded, and Enter after them moves to the next finding */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-action]") : null;
    if (!el) { return; }
    var action = el.getAttribute("data-action");
    if (action === "print") {
      event.preventDefault();
      window.print();
    } else if (action === "back" && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  function summarise(section) {
    var out = section.querySelector("[data-summary]");
    if (!out) { return; }
    var pos = [], neg = [], other = [];
    section.querySelectorAll("fieldset[data-finding]").forEach(function (fs) {
      var checked = fs.querySelector("input[type=radio]:checked");
      if (!checked || checked.value === "not_done") { return; }
      var name = fs.getAttribute("data-finding");
      if (checked.value === "positive") { pos.push(name); }
      else if (checked.value === "negative") { neg.push(name); }
      else { other.push(name + ": " + checked.getAttribute("data-label")); }
    });
    var parts = [];
    if (pos.length) { parts.push(pos.length + " positive"); }
    if (neg.length) { parts.push(neg.length + " negative"); }
    if (other.length) { parts.push(other.join(", ")); }
    out.textContent = parts.length ? parts.join(" · ") : "nothing recorded";
    out.title = pos.length || neg.length
      ? ["Positive: " + (pos.join(", ") || "none"), "Negative: " + (neg.join(", ") || "none")].join("\n")
      : "";
    section.classList.toggle("has-entries", parts.length > 0);
  }

  var KEYS = { p: "positive", n: "negative", "0": "not_done" };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var fs = event.target.closest ? event.target.closest("fieldset[data-finding]") : null;
    if (!fs) { return; }
    var value = KEYS[event.key.toLowerCase()];
    if (value) {
      var input = fs.querySelector("input[type=radio][value='" + value + "']");
      if (input) {
        event.preventDefault();
        input.checked = true;
        input.focus();
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } else if (event.key === "Enter" && event.target.type === "radio") {
      event.preventDefault();  /* never submit the whole visit from a finding */
      var all = Array.prototype.slice.call(document.querySelectorAll("fieldset[data-finding]"));
      var next = all[all.indexOf(fs) + 1];
      if (next) {
        var section = next.closest("details");
        if (section) { section.open = true; }
        (next.querySelector("input:checked") || next.querySelector("input")).focus();
      }
    }
  });

  function init() {
    document.querySelectorAll("details.form-section").forEach(function (section) {
      summarise(section);
      section.addEventListener("change", function () { summarise(section); });
    });
    var expand = document.querySelector("[data-action=expand-all]");
    var collapse = document.querySelector("[data-action=collapse-all]");
    function setAll(open) {
      document.querySelectorAll("details.form-section").forEach(function (d) { d.open = open; });
    }
    if (expand) { expand.addEventListener("click", function () { setAll(true); }); }
    if (collapse) { collapse.addEventListener("click", function () { setAll(false); }); }
    /* a jump link opens the section it points to */
    document.querySelectorAll("a[href^='#section-']").forEach(function (a) {
      a.addEventListener("click", function () {
        var target = document.getElementById(a.getAttribute("href").slice(1));
        if (target && target.tagName === "DETAILS") { target.open = true; }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
