import t from 'tap'
import { DecisionTally, type DecisionLabels } from '../src/decision-tally.js'

t.test('decisions are counted per series and handed over once', async (t) => {
  const tally = new DecisionTally()
  const handed: Array<[DecisionLabels, number]> = []
  const flush = (): void => { tally.flush((labels, n) => handed.push([labels, n])) }
  tally.count('/feed/:tenant', 'subscribe', true, 'none', false)
  tally.count('/feed/:tenant', 'subscribe', true, 'none', false)
  tally.count('/feed/:tenant', 'subscribe', false, 'claim-mismatch', false)
  tally.count('/feed/:tenant', 'subscribe', false, 'claim-mismatch', true)
  tally.count('/other', 'publish', true, 'none', true)
  flush()
  t.same(handed, [
    [{ route: '/feed/:tenant', action: 'subscribe', outcome: 'allow', reason: 'none', shadow: 'false' }, 2],
    [{ route: '/feed/:tenant', action: 'subscribe', outcome: 'deny', reason: 'claim-mismatch', shadow: 'false' }, 1],
    [{ route: '/feed/:tenant', action: 'subscribe', outcome: 'deny', reason: 'claim-mismatch', shadow: 'true' }, 1],
    [{ route: '/other', action: 'publish', outcome: 'allow', reason: 'none', shadow: 'true' }, 1]
  ])
  handed.length = 0
  flush()
  t.same(handed, [], 'nothing new: nothing handed over')
  tally.count('/other', 'publish', true, 'none', true)
  flush()
  t.same(handed, [[{ route: '/other', action: 'publish', outcome: 'allow', reason: 'none', shadow: 'true' }, 1]], 'only what came since')
})
