import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import { cpus, loadavg, totalmem } from 'node:os'
import { performance } from 'node:perf_hooks'

export interface MachineInfo {
  readonly cpus: number
  readonly cpuModel: string
  readonly totalMemMb: number
  readonly node: string
  readonly platform: string
  /** 1-minute load average at the start: the machine is shared, so this says how quiet it was */
  readonly loadAvg1m: number
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    totalMemMb: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAvg1m: loadavg()[0] ?? 0,
  }
}

export interface CryptoCeiling {
  /**
   * Ed25519 verifies per second of CPU time on one core (node:crypto, a KeyObject per key, as the
   * node does). CPU time, not wall time: on a shared machine other processes steal the core, and
   * the ceiling is a property of the core.
   */
  readonly verifyPerSec: number
  /** the same per second of wall time (lower when other processes share the core) */
  readonly verifyPerWallSec: number
  readonly signPerSec: number
  readonly sha256PerSec: number
  readonly samples: number
}

/** Runs fn and returns [wall ms, CPU ms of this process]. */
function timed(fn: () => void): [number, number] {
  const cpu = process.cpuUsage()
  const wall = performance.now()
  fn()
  const used = process.cpuUsage(cpu)
  return [performance.now() - wall, (used.user + used.system) / 1000]
}

/**
 * The machine's own ceiling, measured in the same run: every tx costs at least one Ed25519 verify
 * on every node, so n nodes on c cores can never finalize more than c × verifyPerSec / n tx/s.
 * Messages are tx-sized (~150 B) and signed by 256 keys, like the load.
 */
export function measureCryptoCeiling(samples = 20_000): CryptoCeiling {
  const keys: { priv: KeyObject; pub: KeyObject }[] = []
  for (let k = 0; k < 256; k++) {
    const { privateKey } = generateKeyPairSync('ed25519')
    keys.push({ priv: privateKey, pub: createPublicKey(privateKey) })
  }
  const messages: Buffer[] = []
  for (let i = 0; i < samples; i++) messages.push(Buffer.alloc(150, i & 0xff).fill(i % 7, 0, 4))
  const signatures: Buffer[] = []
  const [, signMs] = timed(() => {
    for (let i = 0; i < samples; i++) {
      signatures.push(sign(null, messages[i] as Buffer, (keys[i % keys.length] as { priv: KeyObject }).priv))
    }
  })
  let ok = 0
  const [verifyWallMs, verifyMs] = timed(() => {
    for (let i = 0; i < samples; i++) {
      const key = keys[i % keys.length] as { pub: KeyObject }
      if (verify(null, messages[i] as Buffer, key.pub, signatures[i] as Buffer)) ok++
    }
  })
  if (ok !== samples) throw new Error(`crypto self-check failed: ${samples - ok} signatures did not verify`)
  const [, hashMs] = timed(() => {
    for (let i = 0; i < samples; i++)
      createHash('sha256')
        .update(messages[i] as Buffer)
        .digest()
  })
  return {
    verifyPerSec: (samples * 1000) / verifyMs,
    verifyPerWallSec: (samples * 1000) / verifyWallMs,
    signPerSec: (samples * 1000) / signMs,
    sha256PerSec: (samples * 1000) / hashMs,
    samples,
  }
}
