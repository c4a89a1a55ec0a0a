// The node API's answers, as noderuntime/apitypes writes them.

export interface ExitInfo {
  code: number
  at: string
  signal?: number
  oom_killed?: boolean
}

export interface Replica {
  id: string
  deployment: string
  service: string
  replica: number
  state: string
  healthy?: boolean
  restarts: number
  last_exit?: ExitInfo
  pid?: number
  image: string
  image_digest?: string
  current: boolean
  started_at?: string
  message?: string
  address?: string
  node?: string
}

export interface Service {
  name: string
  desired: number
  ready: number
  state: string
  message?: string
  replicas: Replica[] | null
}

export interface Deployment {
  name: string
  generation: number
  updated_at: string
  ready: boolean
  services: Service[] | null
  rollout?: { state: string; service?: string; message: string }
}

export interface SpecError {
  File: string
  Line: number
  Column: number
  Path: string
  Msg: string
}

export interface LogEntry {
  replica: number
  id: string
  time?: string
  stream?: string
  log: string
  partial?: boolean
}

export interface Image {
  name: string
  digest: string
  config_digest?: string
  size: number
  created_at?: string
  used_by: string[] | null
}

export interface Node {
  name: string
  role: string
  state: string
  address: string
  api: string
  labels?: Record<string, string>
  replicas: number
  leader?: boolean
  version?: string
  last_seen?: string
}

export interface SessionInfo {
  scope: 'admin' | 'read'
  csrf: string
  expires: string
}
