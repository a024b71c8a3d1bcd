/** Logging in: a user and password through the Keystone-compatible login, or a token given by hand. */
import { useState } from 'preact/hooks';
import { acceptToken, asError, login } from '../api.js';
import { Choice } from './ui.js';

export function Login({
  notice,
  onLoggedIn,
  onTried,
}: {
  notice: string | null;
  onLoggedIn: () => void;
  /** A new try: the notice (why the last session ended) is history. */
  onTried: () => void;
}) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState('admin');
  const [password, setPassword] = useState('');
  const [tokenText, setTokenText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    onTried();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'password') await login(user, password);
      else await acceptToken(tokenText.trim());
      onLoggedIn();
    } catch (err) {
      setError(asError(err).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card" onSubmit={submit} aria-label="Log in">
        <h2>Log in to Fuel deployments</h2>
        {notice && <p class="notice">{notice}</p>}
        <Choice
          label="Log in with"
          value={mode}
          onChange={(m) => {
            setMode(m);
            setError(null);
          }}
          options={[
            { value: 'password', label: 'User and password' },
            { value: 'token', label: 'Token' },
          ]}
        />
        {mode === 'password' ? (
          <>
            <label>
              User
              <input
                name="user"
                value={user}
                autoComplete="username"
                onInput={(e) => setUser(e.currentTarget.value)}
              />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                value={password}
                autoComplete="current-password"
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <label>
            X-Auth-Token
            <input
              name="token"
              type="password"
              value={tokenText}
              autoComplete="off"
              onInput={(e) => setTokenText(e.currentTarget.value)}
            />
          </label>
        )}
        {error && (
          <p class="error-line" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
