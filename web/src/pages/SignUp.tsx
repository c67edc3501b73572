import { type FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router";
import { unwrap } from "../api/client";
import { useApi } from "../auth";
import { ErrorMessage, PageTitle } from "../components";

const MIN_PASSWORD = 12;

export function SignUp() {
  const { client, session } = useApi();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email"));
    const password = String(form.get("password"));
    const full_name = String(form.get("full_name"));
    setBusy(true);
    setError(null);
    try {
      await unwrap(client.POST("/v1/auth/register", { body: { email, password, full_name } }));
      await session.signIn(email, password);
      navigate("/apply");
    } catch (err) {
      setError(err instanceof Error ? err.message : "Sign-up failed.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="narrow">
      <PageTitle>Create your account</PageTitle>
      <form onSubmit={submit} className="stack">
        <label>
          Full name
          <input name="full_name" autoComplete="name" required maxLength={200} />
        </label>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required maxLength={320} />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            required
            minLength={MIN_PASSWORD}
            maxLength={256}
            aria-describedby="password-hint"
          />
        </label>
        <p id="password-hint" className="hint">
          At least {MIN_PASSWORD} characters.
        </p>
        <ErrorMessage message={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Creating your account…" : "Sign up"}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/signin">Sign in</Link>.
      </p>
    </section>
  );
}
