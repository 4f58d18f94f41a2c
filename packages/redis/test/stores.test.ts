import t from 'tap'
import { Redis } from 'ioredis'
import { REDIS_URL } from './helpers.js'
import { storeSuite } from './suite.js'

storeSuite(t, () => new Redis(REDIS_URL))
