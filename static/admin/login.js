// The sign-in page: POST /api/auth/login, then the dashboard (which checks the role).
"use strict";

const form = document.getElementById("login");
const failure = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  failure.hidden = true;
  const body = {
    email: form.email.value,
    password: form.password.value,
  };
  try {
    const res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    if (res.ok) {
      window.location.assign("/admin");
      return;
    }
    const answer = await res.json().catch(() => ({}));
    showFailure((answer.error && answer.error.message) || `Sign-in failed (${res.status})`);
  } catch (e) {
    showFailure(`Sign-in failed: ${e.message}`);
  }
});

function showFailure(text) {
  failure.textContent = text;
  failure.hidden = false;
}
