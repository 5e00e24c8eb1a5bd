/** auth.js — sign in, create an account, sign out. */
import { api } from "../api.js";
import { $, setBusy, setFormError } from "../dom.js";

export function wireAuth({ signedIn, signedOut }) {
  const login = $("#login-form");
  login.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFormError(login, "");
    const email = $("#login-email").value.trim();
    const password = $("#login-password").value;
    if (!email || !password) {
      setFormError(login, "Enter your email and password.");
      return;
    }
    setBusy(login, true);
    try {
      const data = await api("/auth/login", { method: "POST", body: { email, password } });
      login.reset();
      signedIn(data.user);
    } catch (error) {
      setFormError(login, error.message);
    } finally {
      setBusy(login, false);
    }
  });

  const register = $("#register-form");
  register.addEventListener("submit", async (event) => {
    event.preventDefault();
    setFormError(register, "");
    const body = {
      name: $("#register-name").value.trim(),
      email: $("#register-email").value.trim(),
      password: $("#register-password").value,
      role: new FormData(register).get("role"),
    };
    if (!body.name || !body.email) {
      setFormError(register, "Enter your name and email.");
      return;
    }
    if (body.password.length < 8) {
      setFormError(register, "The password needs at least 8 characters.");
      return;
    }
    setBusy(register, true);
    try {
      const data = await api("/auth/register", { method: "POST", body });
      register.reset();
      signedIn(data.user);
    } catch (error) {
      setFormError(register, error.message);
    } finally {
      setBusy(register, false);
    }
  });

  $("#sign-out").addEventListener("click", async () => {
    try {
      await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
    } finally {
      signedOut();
    }
  });
}
