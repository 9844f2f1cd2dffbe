// Which hosts a registry may send our credentials to as its token realm.
import { sameAuthority } from '../../packages/oci/src/auth.ts';

test.each([
  ['ghcr.io', 'ghcr.io'],
  ['auth.docker.io', 'registry-1.docker.io'],
  ['gitlab.com', 'registry.gitlab.com'],
  ['127.0.0.1', '127.0.0.1'],
])('a realm on %s is the authority of %s', (realm, registry) => {
  expect(sameAuthority(realm, registry)).toBe(true);
});

test.each([
  ['evil.example', 'ghcr.io'],
  ['evil.io', 'ghcr.io'],
  ['evil.co.uk', 'registry.foo.co.uk'],
  ['localhost', '127.0.0.1'],
  ['127.0.0.2', '127.0.0.1'],
  ['docker.io.evil.example', 'registry-1.docker.io'],
])('a realm on %s is refused for %s', (realm, registry) => {
  expect(sameAuthority(realm, registry)).toBe(false);
});
