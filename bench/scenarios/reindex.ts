import { emptyResult, type Scenario } from '../lib/context.ts';

export const reindexScenario: Scenario = {
  id: 'reindex',
  title: 'Reindex a production channel',
  async run() {
    return { ...emptyResult(this.id, this.title), skipped: 'not wired yet' };
  },
};
