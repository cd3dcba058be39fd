// The console's login page: the token is posted once; the answer sets the login cookie.
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/console/login", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: document.getElementById("token").value }),
  });
  if (response.ok) { location.reload(); return; }
  const body = await response.json().catch(() => ({}));
  const message = document.getElementById("message");
  message.textContent = body.message || `refused (${response.status})`;
  message.hidden = false;
});
