#!/usr/bin/env node
// A KafClaw group agent in Node.js (kafkajs), written from docs/wire-protocol.md alone.
//
// It joins a group, heartbeats, keeps a roster, provides one skill (claims each
// request on tasks.status and runs it only when its claim is the first one in
// partition order), answers targeted and open requests the same way, and submits
// tasks to other agents' skills and waits for the answers.
//
// Events for a caller go to stdout, one JSON object per line: ready, roster
// (whenever the live set changes), served, answer (one per --ask). Diagnostics go
// to stderr.

'use strict'

const crypto = require('node:crypto')
const { Kafka, Partitioners, logLevel } = require('kafkajs')

// The eleven fixed group topics, with their manifest category and description.
const GROUP_TOPICS = {
  announce: ['control', 'Join/leave/heartbeat announcements'],
  'control.roster': ['control', 'Topic registry manifest and member capabilities'],
  'control.onboarding': ['control', 'Agent onboarding protocol messages'],
  requests: ['tasks', 'General task requests'],
  responses: ['tasks', 'General task responses'],
  'tasks.status': ['tasks', 'Task status updates and progress'],
  traces: ['observe', 'Trace spans for distributed tracing'],
  'observe.audit': ['observe', 'Administrative audit events'],
  'memory.shared': ['memory', 'Shared memory items via LFS'],
  'memory.context': ['memory', 'Ephemeral context sharing'],
  orchestrator: ['control', 'Orchestrator discovery and coordination']
}
const SKILL_RE = /^[A-Za-z0-9_-]+$/

function usage (msg) {
  process.stderr.write(`error: ${msg}\n` +
    'usage: agent.js [--brokers H:P,..] [--group G] [--agent-id ID] [--skill S]\n' +
    '                [--heartbeat SECS] [--missed-heartbeats N] [--task-timeout SECS]\n' +
    '                [--ask SKILL=TEXT]... [--exit-after-asks]\n' +
    'defaults from KAFCLAW_GROUP_KAFKA_BROKERS, KAFCLAW_GROUP_GROUP_NAME, KAFCLAW_GROUP_AGENT_ID,\n' +
    'KAFCLAW_AGENT_SKILL, KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS, KAFCLAW_GROUP_MISSED_HEARTBEATS,\n' +
    'KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS\n')
  process.exit(2)
}

function parseArgs (argv) {
  const e = (name, dflt) => (process.env[name] ? process.env[name] : dflt)
  const a = {
    brokers: e('KAFCLAW_GROUP_KAFKA_BROKERS', '127.0.0.1:9092'),
    group: e('KAFCLAW_GROUP_GROUP_NAME', ''),
    agentId: e('KAFCLAW_GROUP_AGENT_ID', ''),
    skill: e('KAFCLAW_AGENT_SKILL', ''),
    heartbeat: Number(e('KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS', '30')),
    missed: Number(e('KAFCLAW_GROUP_MISSED_HEARTBEATS', '3')),
    taskTimeout: Number(e('KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS', '60')),
    asks: [],
    exitAfterAsks: false
  }
  const keys = { '--brokers': 'brokers', '--group': 'group', '--agent-id': 'agentId', '--skill': 'skill' }
  const nums = { '--heartbeat': 'heartbeat', '--missed-heartbeats': 'missed', '--task-timeout': 'taskTimeout' }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--exit-after-asks') { a.exitAfterAsks = true; continue }
    if (!(flag in keys || flag in nums || flag === '--ask')) usage(`unknown argument ${flag}`)
    const value = argv[++i]
    if (value === undefined) usage(`${flag} needs a value`)
    if (flag === '--ask') {
      const at = value.indexOf('=')
      const skill = at < 0 ? value : value.slice(0, at)
      if (!SKILL_RE.test(skill)) usage(`--ask ${value}: the skill name must be letters, digits, _ or -`)
      a.asks.push({ skill, content: at < 0 ? '' : value.slice(at + 1), taskId: null })
    } else if (flag in nums) {
      a[nums[flag]] = Number(value)
      if (!(a[nums[flag]] > 0)) usage(`${flag} ${value}: a positive number is required`)
    } else {
      a[keys[flag]] = value
    }
  }
  if (!a.group) usage('--group (or KAFCLAW_GROUP_GROUP_NAME) is required')
  if (!a.agentId) usage('--agent-id (or KAFCLAW_GROUP_AGENT_ID) is required')
  if (a.skill && !SKILL_RE.test(a.skill)) usage(`--skill ${a.skill}: letters, digits, _ and - only`)
  return a
}

// UTC time in RFC 3339 (milliseconds are enough; any fraction is accepted).
const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString()

// A version-7 UUID: 48 bits of Unix milliseconds, version 7, variant 10, random bits.
function uuid7 () {
  const b = crypto.randomBytes(16)
  const ms = BigInt(Date.now())
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn)
  b[6] = (b[6] & 0x0f) | 0x70
  b[8] = (b[8] & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

async function retry (op, attempts = 50) {
  for (let i = 1; ; i++) {
    try {
      return await op()
    } catch (err) {
      if (i >= attempts || !err.retriable) throw err
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}

// Merges a topic manifest entry by entry: unknown skill topics are added, consumers united.
function mergeManifest (local, incoming) {
  if (!local) local = { ...incoming, skill_topics: [], core_topics: incoming.core_topics || [] }
  for (const d of incoming.skill_topics || []) {
    if (!d || typeof d !== 'object') continue
    const have = local.skill_topics.find(l => l.name === d.name)
    if (!have) {
      local.skill_topics.push({ ...d, consumers: [...new Set(d.consumers || [])].sort() })
    } else {
      have.consumers = [...new Set([...have.consumers, ...(d.consumers || [])])].sort()
    }
  }
  local.version = Math.max(local.version || 0, incoming.version || 0)
  return local
}

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n')

class Agent {
  constructor (args) {
    this.args = args
    this.me = args.agentId
    this.hbMs = args.heartbeat * 1000
    this.windowMs = this.hbMs * args.missed
    this.kafka = new Kafka({ clientId: `kafclaw-node-${this.me}`, brokers: args.brokers.split(','), logLevel: logLevel.NOTHING })
    // The default partitioner is Java's murmur2, as every KafClaw agent must use for keys.
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
    this.members = new Map() // agent id -> { lastSeen: ms, skills: [] }
    this.printedRoster = ''
    this.winners = new Map() // task id -> first claimant
    this.claimed = new Map() // task id -> { topic, req }
    this.done = new Set()
    this.answered = new Set()
    this.failedAsks = 0
    this.extraBeatAt = 0
    this.joined = false
  }

  topic (suffix) { return `group.${this.args.group}.${suffix}` }
  skillTopic (skill, direction) { return this.topic(`skill.${skill}.${direction}`) }

  identity () {
    return {
      agent_id: this.me,
      agent_name: `Node agent ${this.me}`,
      soul_summary: 'An example agent written in Node.js with kafkajs.',
      capabilities: [],
      channels: [],
      model: '',
      joined_at: this.joinedAt,
      status: 'active',
      skills: this.args.skill ? [this.args.skill] : []
    }
  }

  async send (topic, key, type, correlationId, payload) {
    const envelope = {
      type,
      correlation_id: correlationId,
      sender_id: this.me,
      timestamp: rfc3339(),
      payload,
      message_id: uuid7(),
      schema_version: 1
    }
    await this.producer.send({
      topic,
      acks: -1,
      messages: [{ key, value: JSON.stringify(envelope), headers: { 'kafclaw-message-id': envelope.message_id } }]
    })
  }

  announce (action) {
    const prefix = action === 'heartbeat' ? 'hb' : action
    return this.send(this.topic('announce'), this.me, 'announce', `${prefix}-${Date.now()}000000`,
      { action, identity: this.identity() })
  }

  status (taskId, status) {
    return this.send(this.topic('tasks.status'), taskId, 'task_status', taskId,
      { task_id: taskId, responder_id: this.me, status })
  }

  async start () {
    const started = Date.now()
    this.joinedAt = rfc3339(started).slice(0, 19) + 'Z'
    const own = new Set()
    const read = new Set(['announce', 'requests', 'tasks.status'].map(t => this.topic(t)))
    if (this.args.skill) {
      own.add(this.skillTopic(this.args.skill, 'requests')).add(this.skillTopic(this.args.skill, 'responses'))
      read.add(this.skillTopic(this.args.skill, 'requests'))
      read.add(this.topic('control.roster'))
    }
    for (const ask of this.args.asks) {
      own.add(this.skillTopic(ask.skill, 'requests')).add(this.skillTopic(ask.skill, 'responses'))
      read.add(this.skillTopic(ask.skill, 'responses'))
    }
    // The eleven fixed group topics and the skill topics: brokers often refuse to
    // auto-create topics; creating one that exists is no error.
    const admin = this.kafka.admin()
    await admin.connect()
    const wanted = [...Object.keys(GROUP_TOPICS).map(t => this.topic(t)), ...own]
    await admin.createTopics({ waitForLeaders: true, topics: wanted.map(topic => ({ topic, numPartitions: 3, replicationFactor: 1 })) })
    // Start positions by record time: announce from one expiry window back (to
    // learn the current members), everything else from now. kafkajs reads the end
    // offsets first and uses them where no record is that new.
    const seeks = []
    // The manifest on control.roster is state: read it from the start, up to where it
    // ends now, before registering the skill.
    this.rosterBehind = new Map()
    if (this.args.skill) {
      const roster = this.topic('control.roster')
      for (const { partition, low, high } of await retry(() => admin.fetchTopicOffsets(roster))) {
        seeks.push({ topic: roster, partition, offset: low })
        if (Number(high) > Number(low)) this.rosterBehind.set(partition, Number(high) - 1)
      }
    }
    this.manifest = null
    this.registered = !this.args.skill
    for (const topic of read) {
      if (topic === this.topic('control.roster')) continue
      const since = topic === this.topic('announce') ? started - this.windowMs : started
      // A topic created a moment ago may not have its leaders yet: retry a little.
      const offsets = await retry(() => admin.fetchTopicOffsetsByTimestamp(topic, since))
      for (const { partition, offset } of offsets) {
        seeks.push({ topic, partition, offset })
      }
    }
    await admin.disconnect()
    await this.producer.connect()
    // A consumer group of its own (unique per process) makes every agent read every
    // record: broadcast. The seeks below decide where it starts.
    this.consumer = this.kafka.consumer({ groupId: `kafclaw-node-${this.me}-${crypto.randomUUID()}` })
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [...read], fromBeginning: false })
    await this.consumer.run({ eachMessage: (m) => this.onRecord(m).catch(err => this.fail(err)) })
    for (const s of seeks) this.consumer.seek(s)
    await this.announce('join')
    this.joined = true
    this.members.set(this.me, { lastSeen: Date.now(), skills: this.identity().skills })
    this.nextBeat = Date.now() + this.hbMs
    emit({ event: 'ready', agent_id: this.me })
  }

  fail (err) {
    process.stderr.write(`node agent ${this.me}: ${err && err.stack ? err.stack : err}\n`)
  }

  async onRecord ({ topic, partition, message }) {
    let env
    try {
      env = JSON.parse(message.value.toString())
    } catch (_) {
      process.stderr.write(`skipping a record that is not JSON on ${topic}\n`)
      return
    }
    if (!env || typeof env !== 'object' || !env.payload || typeof env.payload !== 'object') return
    const { payload, type } = env
    const sender = env.sender_id || ''
    if (topic === this.topic('control.roster')) {
      if (payload.group_name === this.args.group) this.manifest = mergeManifest(this.manifest, payload)
      if (Number(message.offset) >= (this.rosterBehind.get(partition) ?? -1)) this.rosterBehind.delete(partition)
    } else if (topic === this.topic('announce') && type === 'announce') {
      await this.onAnnounce(payload, sender, Number(message.timestamp))
    } else if (topic === this.topic('tasks.status') || (topic === this.topic('responses') && type === 'task_status')) {
      await this.onStatus(payload, sender)
    } else if (topic === this.topic('requests') && type === 'request') {
      await this.onRequest(topic, payload, sender)
    } else if (this.args.skill && topic === this.skillTopic(this.args.skill, 'requests')) {
      await this.onRequest(topic, payload, sender)
    } else if (topic.endsWith('.responses') && (type === 'response' || type === 'skill_response')) {
      this.onResponse(payload)
    }
  }

  async onAnnounce (payload, sender, recordTime) {
    const identity = payload.identity || {}
    const agent = identity.agent_id || ''
    if (!agent || agent !== sender || agent === this.me) return
    if (payload.action === 'leave') {
      this.members.delete(agent)
    } else if (payload.action === 'join' || payload.action === 'heartbeat') {
      this.members.set(agent, { lastSeen: Math.min(recordTime, Date.now()), skills: identity.skills || [] })
      if (payload.action === 'join' && this.joined && Date.now() >= this.extraBeatAt) {
        // Answer a newcomer at once, so it learns about us quickly.
        this.extraBeatAt = Date.now() + this.hbMs
        await this.announce('heartbeat')
      }
    }
  }

  async onRequest (topic, req, sender) {
    const taskId = req.task_id || ''
    if (!taskId || sender === this.me || req.requester_id === this.me) return
    const target = req.target_id || ''
    const skill = req.skill || ''
    if (target) {
      if (target === this.me) {
        await this.status(taskId, 'accepted')
        await this.run(topic, req)
      }
      return
    }
    if (skill && skill !== this.args.skill) return
    if (this.winners.has(taskId) || this.claimed.has(taskId)) return
    this.claimed.set(taskId, { topic, req })
    await this.status(taskId, 'accepted')
  }

  async onStatus (st, sender) {
    const taskId = st.task_id || ''
    if (st.status !== 'accepted' || this.winners.has(taskId)) return
    if (st.responder_id !== sender) return // a claim must come from its claimant
    this.winners.set(taskId, sender)
    const claim = this.claimed.get(taskId)
    this.claimed.delete(taskId)
    if (claim && sender === this.me) await this.run(claim.topic, claim.req)
  }

  async run (topic, req) {
    const taskId = req.task_id
    if (this.done.has(taskId)) return
    this.done.add(taskId)
    const answer = { task_id: taskId, responder_id: this.me, content: `${this.me} (node) did: ${req.content || ''}`, status: 'completed' }
    if (topic === this.topic('requests')) {
      await this.send(this.topic('responses'), taskId, 'response', taskId, answer)
    } else {
      const skill = topic.slice(this.topic('skill.').length, -'.requests'.length)
      await this.send(this.skillTopic(skill, 'responses'), taskId, 'skill_response', taskId, answer)
    }
    await this.status(taskId, 'completed')
    emit({ event: 'served', task_id: taskId, requester_id: req.requester_id || '', skill: req.skill || '' })
  }

  onResponse (resp) {
    this.args.asks.forEach((ask, i) => {
      if (ask.taskId && ask.taskId === resp.task_id && !this.answered.has(i)) {
        this.answered.add(i)
        if (resp.status !== 'completed') this.failedAsks++
        emit({ event: 'answer', ask: i, skill: ask.skill, task_id: ask.taskId, status: resp.status || '', responder_id: resp.responder_id || '', content: resp.content || '' })
      }
    })
  }

  live () {
    const now = Date.now()
    return [...this.members].filter(([id, m]) => id === this.me || now - m.lastSeen <= this.windowMs)
  }

  // Adds this agent to the manifest's entries for its skill and publishes the whole
  // manifest on control.roster (key: the group name).
  async registerSkill () {
    const skill = this.args.skill
    let manifest = this.manifest || {
      group_name: this.args.group,
      version: 0,
      core_topics: Object.entries(GROUP_TOPICS).map(([t, [category, description]]) =>
        ({ name: this.topic(t), category, description, consumers: [] })),
      skill_topics: [],
      updated_at: rfc3339(),
      updated_by: ''
    }
    const before = JSON.stringify(manifest.skill_topics)
    manifest = mergeManifest(manifest, {
      version: 0,
      skill_topics: ['requests', 'responses'].map(d =>
        ({ name: this.skillTopic(skill, d), category: 'skill', description: `Skill ${d} for ${skill}`, consumers: [this.me] }))
    })
    if (JSON.stringify(manifest.skill_topics) !== before) {
      manifest.version += 1
      manifest.updated_at = rfc3339()
      manifest.updated_by = this.me
      await this.send(this.topic('control.roster'), this.args.group, 'roster', `roster-${Date.now()}000000`, manifest)
    }
  }

  async tick () {
    const now = Date.now()
    if (!this.registered && this.rosterBehind.size === 0) {
      this.registered = true
      await this.registerSkill()
    }
    if (now >= this.nextBeat) {
      this.nextBeat = now + this.hbMs
      this.members.get(this.me).lastSeen = now
      await this.announce('heartbeat')
    }
    const live = this.live()
    const ids = live.map(([id]) => id).sort()
    if (JSON.stringify(ids) !== this.printedRoster) {
      this.printedRoster = JSON.stringify(ids)
      emit({ event: 'roster', members: ids })
    }
    for (const [i, ask] of this.args.asks.entries()) {
      if (ask.taskId === null && live.some(([id, m]) => id !== this.me && m.skills.includes(ask.skill))) {
        ask.taskId = crypto.randomUUID().replace(/-/g, '')
        ask.deadline = now + this.args.taskTimeout * 1000
        await this.send(this.skillTopic(ask.skill, 'requests'), ask.taskId, 'skill_request', ask.taskId,
          { task_id: ask.taskId, description: ask.content.slice(0, 80), content: ask.content, requester_id: this.me, skill: ask.skill })
      } else if (ask.taskId && !this.answered.has(i) && now > ask.deadline) {
        this.answered.add(i)
        this.failedAsks++
        emit({ event: 'answer', ask: i, skill: ask.skill, task_id: ask.taskId, status: 'timeout', responder_id: '', content: '' })
      }
    }
  }

  async stop () {
    try { await this.announce('leave') } catch (err) { this.fail(err) }
    await this.consumer.disconnect().catch(err => this.fail(err))
    await this.producer.disconnect().catch(err => this.fail(err))
  }
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const agent = new Agent(args)
  await agent.start()
  let stopping = false
  const stop = () => { stopping = true }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  while (!stopping) {
    try { await agent.tick() } catch (err) { agent.fail(err) }
    if (args.exitAfterAsks && agent.answered.size === args.asks.length) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await agent.stop()
  process.exit(agent.failedAsks ? 1 : 0)
}

main().catch(err => {
  process.stderr.write(`node agent: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
