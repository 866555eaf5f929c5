// The board: dragging a card to another column posts the move; a refused move puts the card back
// and shows the panel of missing evidence that the server rendered.
(function () {
  "use strict";
  function start() {
    var board = document.getElementById("board");
    if (!board || typeof Sortable === "undefined") { return; }
    var csrf = board.dataset.csrf;
    var panel = document.getElementById("move-panel");
    board.querySelectorAll("ul.cards").forEach(function (list) {
      Sortable.create(list, {
        group: "board",
        animation: 120,
        // On a phone a finger first scrolls the board; a card is picked up only when held a moment.
        delay: 200,
        delayOnTouchOnly: true,
        onEnd: function (evt) {
          if (evt.from === evt.to) { return; }
          var card = evt.item;
          var back = function () { evt.from.insertBefore(card, evt.from.children[evt.oldIndex] || null); };
          var body = new URLSearchParams({ to: evt.to.dataset.stage });
          fetch("/deals/" + encodeURIComponent(card.dataset.deal) + "/move", {
            method: "POST",
            headers: { "X-CSRF-Token": csrf, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded" },
            body: body.toString(),
            credentials: "same-origin"
          }).then(function (response) {
            var redirect = response.headers.get("HX-Redirect");
            if (redirect) { window.location.assign(redirect); return; }
            if (response.ok && response.headers.get("HX-Refresh")) { window.location.reload(); return; }
            back();
            return response.text().then(function (html) {
              panel.innerHTML = html;
              if (window.htmx) { window.htmx.process(panel); }
              panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
            });
          }).catch(function () {
            back();
            panel.textContent = "The move could not be sent: check your connection and try again.";
          });
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
