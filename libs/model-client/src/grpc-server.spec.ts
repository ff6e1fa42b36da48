import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  HttpException,
  InternalServerErrorException,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { statusOf } from './grpc-server';

describe(statusOf.name, () => {
  it.each([
    [new BadRequestException('invalid inference request: id must be a string'), status.INVALID_ARGUMENT],
    [new NotFoundException('model "x" does not exist'), status.NOT_FOUND],
    [new ConflictException('requestId "r" was already used'), status.ALREADY_EXISTS],
    [new UnprocessableEntityException('variant "v" rejected the inputs'), status.FAILED_PRECONDITION],
    [new BadGatewayException('variant "v" failed: model unreachable'), status.UNAVAILABLE],
    [new HttpException('this request came from a router', 508), status.FAILED_PRECONDITION],
    [new InternalServerErrorException('model churn-broken failed'), status.INTERNAL],
  ])('gives %s the status of its kind, with its message', (error, code) => {
    expect(statusOf(error)).toEqual({ code, details: error.message });
  });

  it('joins the messages of a body that lists several', () => {
    expect(statusOf(new BadRequestException({ statusCode: 400, message: ['a', 'b'] }))).toEqual({ code: status.INVALID_ARGUMENT, details: 'a; b' });
  });

  it('keeps the message of anything that is not an HTTP answer (a bug) out of the status', () => {
    expect(statusOf(new TypeError('cannot read x of undefined'))).toEqual({ code: status.INTERNAL, details: 'Internal server error' });
  });
});
