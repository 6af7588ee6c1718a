// Family diary: preselect the phone's own local time and UTC offset (the family can change both).
(function () {
  var time = document.getElementById("time");
  var tz = document.getElementById("tz_offset");
  if (!time || !tz || document.querySelector("[aria-invalid]")) return;
  var now = new Date();
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  time.value = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate()) + "T" +
    pad(now.getHours()) + ":" + pad(now.getMinutes());
  var off = -now.getTimezoneOffset();
  var text = (off >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  for (var i = 0; i < tz.options.length; i++) {
    if (tz.options[i].value === text) { tz.selectedIndex = i; break; }
  }
  var advice = document.getElementById("advice");
  if (advice) advice.focus();
})();
