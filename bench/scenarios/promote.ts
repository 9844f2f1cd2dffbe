import { emptyResult, type Scenario } from '../lib/context.ts';

export const promoteScenario: Scenario = {
  id: 'promote',
  title: 'Promotion staging to production',
  async run() {
    return { ...emptyResult(this.id, this.title), skipped: 'not wired yet' };
  },
};
