import { startRegistry, type RunningRegistry } from './registry.ts';

let registry: RunningRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

test('the harness registry speaks the distribution API on loopback', async () => {
  const res = await fetch(`${registry.url}/v2/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  const tags = await fetch(`${registry.url}/v2/nothing/here/tags/list`);
  expect(tags.status).toBe(404);
});
