/**
 * The page: the login until a token works, then the environments (`#/`) or one environment (`#/env/ID`,
 * with its tab: `#/env/ID/nodes`). A 401 from any call brings the login back with the service's reason.
 */
import { useEffect, useState } from 'preact/hooks';
import { onUnauthorized, token } from '../api.js';
import { Environment, TABS, type Tab } from './environment.js';
import { Environments } from './environments.js';
import { Login } from './login.js';

interface Location {
  clusterId: number | null;
  tab: Tab;
}

function parseHash(hash: string): Location {
  const match = /^#\/env\/(\d+)(?:\/([a-z]+))?/.exec(hash);
  if (!match) return { clusterId: null, tab: 'dashboard' };
  const tab = (TABS as readonly string[]).includes(match[2] ?? '') ? (match[2] as Tab) : 'dashboard';
  return { clusterId: Number(match[1]), tab };
}

export function App() {
  const [loggedIn, setLoggedIn] = useState(token.get() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const [where, setWhere] = useState(parseHash(location.hash));

  useEffect(() => {
    onUnauthorized((message) => {
      token.clear();
      setNotice(`The service refused the session (401: ${message}). Log in again.`);
      setLoggedIn(false);
    });
    const onHash = () => setWhere(parseHash(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  if (!loggedIn) {
    return (
      <>
        <Header loggedIn={false} onLogout={() => {}} />
        <Login
          notice={notice}
          onTried={() => setNotice(null)}
          onLoggedIn={() => {
            setNotice(null);
            setLoggedIn(true);
          }}
        />
      </>
    );
  }
  return (
    <>
      <Header
        loggedIn
        onLogout={() => {
          token.clear();
          setNotice('Logged out.');
          setLoggedIn(false);
        }}
      />
      {where.clusterId === null ? (
        <Environments />
      ) : (
        <Environment key={where.clusterId} clusterId={where.clusterId} tab={where.tab} />
      )}
    </>
  );
}

function Header({ loggedIn, onLogout }: { loggedIn: boolean; onLogout: () => void }) {
  return (
    <header class="top">
      <a class="brand" href="#/">
        Fuel deployments
      </a>
      {loggedIn && (
        <>
          <a href="#/">Environments</a>
          <span class="spacer" />
          <button type="button" class="link light" onClick={onLogout}>
            Log out
          </button>
        </>
      )}
    </header>
  );
}
