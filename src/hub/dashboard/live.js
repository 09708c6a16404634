// The State Hub dashboard's one script: on a resource's page, notes that
// arrive after the page was made are appended to the timeline as they come
// (server-sent events from the notes cursor). Text only: nothing a note says
// becomes markup. Without this script the page reloads itself instead.
"use strict";
(function () {
  var list = document.getElementById("notes");
  if (!list || !window.EventSource) return;
  var id = list.getAttribute("data-notes-id");
  var since = list.getAttribute("data-cursor");
  var count = document.getElementById("notes-count");
  var source = new EventSource("/events/notes/" + encodeURIComponent(id) + "?since=" + encodeURIComponent(since));
  source.addEventListener("note", function (event) {
    var note = JSON.parse(event.data);
    var item = document.createElement("li");
    item.className = "fresh";
    var line = document.createElement("span");
    var level = ["info", "warn", "error"].indexOf(note.level) >= 0 ? note.level : "info";
    line.className = "note " + level;
    var time = document.createElement("time");
    time.textContent = note.at;
    line.appendChild(time);
    line.appendChild(document.createTextNode(" " + note.text));
    item.appendChild(line);
    list.appendChild(item);
    if (count) count.textContent = String(Number(count.textContent) + 1);
  });
})();
