import { COMMITTED_CLAIM, JoinLedger, LedgerFeedback, LedgerPrediction } from './join-ledger';

const prediction = (deployment: string, token: string, json = `p-${token}`): LedgerPrediction => ({ pair: `${deployment}:v1:served`, deployment, json, token });
const feedback = (token: string, scope?: string): LedgerFeedback => ({ scope, json: `f-${token}`, token });

describe(JoinLedger.name, () => {
  let sut: JoinLedger;
  beforeEach(() => (sut = new JoinLedger()));

  it('keeps the first copy of a prediction, and says which message it came from', () => {
    expect(sut.recordPrediction(prediction('d', 't1', 'one'), false)).toEqual({ first: true });
    expect(sut.recordPrediction(prediction('d', 't2', 'two'), false)).toEqual({ first: false });
    expect(sut.recordPrediction(prediction('d', 't1', 'one'), false)).toEqual({ first: true });
    expect(sut.predictions.get('d:v1:served')).toEqual({ token: 't1', json: 'one' });
  });

  it('joins a prediction with the feedback naming its deployment, else the one naming none', () => {
    sut.recordFeedback(feedback('any'), false);
    sut.recordFeedback(feedback('mine', 'd'), false);
    expect(sut.recordPrediction(prediction('d', 't1'), false).joined).toEqual({ pair: 'd:v1:served', prediction: 'p-t1', feedback: 'f-mine' });
    expect(sut.recordPrediction(prediction('e', 't2'), false).joined).toEqual({ pair: 'e:v1:served', prediction: 'p-t2', feedback: 'f-any' });
    expect(sut.recordPrediction(prediction('x', 't3'), false).joined).toBeDefined();
  });

  it('lets feedback claim only the predictions it applies to, each with the feedback that prediction joins', () => {
    sut.recordPrediction(prediction('d', 't1'), false);
    sut.recordPrediction(prediction('e', 't2'), false);
    expect(sut.recordFeedback(feedback('f1', 'd'), false)).toEqual([{ pair: 'd:v1:served', prediction: 'p-t1', feedback: 'f-f1' }]);
    expect(sut.recordFeedback(feedback('f2'), false)).toEqual([{ pair: 'e:v1:served', prediction: 'p-t2', feedback: 'f-f2' }]);
    expect([...sut.claims]).toEqual([
      ['d:v1:served', 'f1'],
      ['e:v1:served', 'f2'],
    ]);
  });

  it('claims a pair once: a later message never again, a redelivery of the claiming one again', () => {
    sut.recordFeedback(feedback('f1'), false);
    expect(sut.recordPrediction(prediction('d', 't1'), false).joined).toBeDefined();
    expect(sut.recordPrediction(prediction('d', 't2'), false).joined).toBeUndefined();
    expect(sut.recordFeedback(feedback('f2'), false)).toEqual([]);
    expect(sut.recordPrediction(prediction('d', 't1'), false).joined).toBeDefined();
  });

  it('only stores when replaying, and a restored claim keeps the pair from joining again', () => {
    expect(sut.recordFeedback(feedback('f1'), true)).toEqual([]);
    expect(sut.recordPrediction(prediction('d', 't1'), true)).toEqual({ first: true });
    expect(sut.claims.size).toBe(0);
    sut.restoreClaim('d:v1:served');
    sut.restoreClaim('d:v1:served');
    expect(sut.recordPrediction(prediction('d', 't1'), false)).toEqual({ first: false });
    expect(sut.claims.get('d:v1:served')).toBe(COMMITTED_CLAIM);
    expect(sut.predictions.size).toBe(0);
  });

  it('compacts a pair once its claiming message committed: only that it joined is kept, no copy is stored again', () => {
    sut.recordFeedback(feedback('f1'), false);
    sut.recordPrediction(prediction('d', 't1'), false);
    sut.compact('d:v1:served', 't2');
    expect(sut.claims.get('d:v1:served')).toBe('t1');
    sut.compact('d:v1:served', 't1');
    expect([...sut.claims]).toEqual([['d:v1:served', COMMITTED_CLAIM]]);
    expect(sut.predictions.size).toBe(0);
    expect(sut.recordPrediction(prediction('d', 't3'), false)).toEqual({ first: false });
    expect(sut.recordFeedback(feedback('f2', 'd'), false)).toEqual([]);
    expect(sut.predictions.size).toBe(0);
  });
});
