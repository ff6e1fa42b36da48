import { grpcTarget } from './grpc';

describe(grpcTarget.name, () => {
  it.each([
    ['http://127.0.0.1:8001', { target: '127.0.0.1:8001', tls: false }],
    ['http://models.internal', { target: 'models.internal:80', tls: false }],
    ['https://models.example.com/ignored/path', { target: 'models.example.com:443', tls: true }],
    ['http://[::1]:8001', { target: '[::1]:8001', tls: false }],
  ])('reads %s as a gRPC target', (url, target) => {
    expect(grpcTarget(url)).toEqual(target);
  });
});
