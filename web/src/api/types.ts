// The API's views, as docs/openapi.yaml describes them (camelCase; areas
// and amounts are exact decimal strings, with integer fen beside them).

export type Role = 'company' | 'project_manager' | 'community' | 'subdistrict' | 'district' | 'finance' | 'city' | 'admin'
/** The roles held through the staff directory. */
export type StaffRole = Exclude<Role, 'company' | 'project_manager'>
export type Tier = 'community' | 'subdistrict' | 'district'
export type Level = 'city' | 'district' | 'subdistrict' | 'community'
export type State =
  | 'draft'
  | 'awaiting_area_confirmation'
  | 'pending_community'
  | 'pending_subdistrict'
  | 'pending_district'
  /** Approved by the district, in its public notice window (公示中): payable once it closes. */
  | 'in_public_notice'
  | 'approved'
  | 'in_payment_batch'
  | 'paid'
  | 'returned'
  | 'rejected'
  | 'withdrawn'
  | 'payment_failed'
/**
 * The company's own kinds (service_contract, area_proof, other); a district
 * reviewer's 追回依据 (recovery_evidence) on a paid application, shown to
 * everyone who sees the documents; an objector's 异议材料
 * (objection_evidence), shown to staff only, never to the company.
 */
export type DocumentKind = 'service_contract' | 'area_proof' | 'other' | 'recovery_evidence' | 'objection_evidence'
export type BatchState = 'building' | 'ready' | 'released' | 'reconciled' | 'cancelled'
export type LineStatus = 'pending' | 'paid' | 'failed' | 'cancelled'

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface UnitSummary {
  code: string
  name: string
  level: Level
}
export interface UnitView extends UnitSummary {
  parent: string | null
  children: UnitSummary[]
}

export interface BankAccountView {
  bankName: string
  accountName: string
  accountNumberMasked: string
}
export interface CompanyView {
  id: string
  creditCode: string
  name: string
  legalRepresentative: string
  contactName: string
  contactPhone: string
  bankAccount: BankAccountView
  version: number
  createdAt: string
  updatedAt: string
}
export interface MeView {
  userId: string
  role: Role
  name: string | null
  unit: UnitSummary | null
  phone: string | null
  company: CompanyView | null
  /** A staff member's directory assignments; empty for companies and project managers. */
  assignments: AssignmentView[]
}

export interface Policy {
  id: string
  name: string
  rateFenPerM2Month: number
  months: number
  opensAt: string
  closesAt: string
  payoutDeadline: string
  maxProjectArea: string
  requiredDocuments: DocumentKind[]
  maxDocumentBytes: number
  districtBudgets: Record<string, string>
  timeLimits: TimeLimits
  /** The public notice (公示) after the district's 审核, in calendar days; 0: none, approved is payable at once. */
  publicNoticeDays?: number
}
/** The service time limit of each step (办理时限), in working days. */
export interface TimeLimits {
  areaConfirmation: number
  community: number
  subdistrict: number
  district: number
  finance: number
  /** Escalation (督办): overdue at a review tier by more than this many working days, the unit above lists it. */
  escalateAfter: number
}

export interface JurisdictionView {
  city: string
  district: string
  subdistrict: string
  community: string
  names: { city: string; district: string; subdistrict: string; community: string }
}
export interface ProjectView {
  id: string
  companyId: string
  name: string
  address: string
  community: string
  jurisdiction: JurisdictionView
  managedArea: string
  managerName: string
  managerPhone: string
  version: number
  createdAt: string
  updatedAt: string
}
export interface ProjectInput {
  name: string
  address: string
  community: string
  managedArea: string
  managerName: string
  /** Required when creating; left out on an update, the number on file is kept. */
  managerPhone?: string
  version?: number
}

export interface TierApproval {
  tier: Tier
  area: string
  reason: string | null
  by: string
  at: string
}
export interface Decision {
  kind: 'returned' | 'rejected' | 'withdrawn' | 'area_disputed' | 'payment_failed'
  role: Role
  reason: string | null
  by: string
  at: string
}
export interface ApplicationView {
  id: string
  policyId: string
  state: State
  pendingTier: Tier | null
  version: number
  companyId: string
  companyName: string
  creditCode: string
  projectId: string
  project: { name: string; address: string; managedArea: string; managerName: string; managerPhone: string }
  jurisdiction: JurisdictionView
  claimedArea: string
  claimedAmount: string
  claimedAmountFen: number
  confirmedArea: string | null
  approvedArea: string | null
  approvedAmount: string | null
  approvedAmountFen: number | null
  note: string | null
  approvals: TierApproval[]
  lastDecision: Decision | null
  round: number
  batchId: string | null
  payee: BankAccountView | null
  payeeChangePending: boolean
  paymentLine: string | null
  createdAt: string
  updatedAt: string
  submittedAt: string | null
  stateSince: string
  /** When the step it waits at is due (办理时限), or null. */
  dueAt: string | null
  /** Past dueAt, by the server's clock. */
  overdue: boolean
  /** When the company last urged (催办) the current step, or null. */
  urgedAt: string | null
  /** The company may urge now: overdue, and not urged yet on this working day. */
  mayUrge: boolean
  /** A recovery (追回) of an overpayment found after payment, once opened. */
  recovery?: RecoveryView
  /** Its public notice (公示) and the objections (异议) to it, once published. */
  notice?: ApplicationNoticeView
}
/** How the district resolved an objection. */
export type ObjectionResolution = 'dismissed' | 'returned_to_review'
/** An objection (异议) to a public notice; who made it is for the reviewing staff only. */
export interface ObjectionView {
  /** 1 for the first objection to the application, and so on. */
  seq: number
  reason: string
  at: string
  /** Staff of the reviewing tiers and the city only; never the company. */
  objector?: string
  objectorRole?: Role
  /** Null while it waits for the district (异议处理中). */
  resolution: ObjectionResolution | null
  resolutionReason: string | null
  resolvedAt: string | null
}
/** An application's public notice (公示): its window and the objections to it. */
export interface ApplicationNoticeView {
  startsAt: string
  /** The start of the China day after its last day. */
  endsAt: string
  /** An objection waits for the district's resolution (异议处理中). */
  onHold: boolean
  objections: ObjectionView[]
}
/** `POST /review/district/applications/{id}/resolve-objections`: 异议不成立 or 异议成立，退回审核. */
export type ObjectionOutcome = 'dismiss' | 'return_to_review'
export interface ResolveObjectionsRequest {
  version: number
  outcome: ObjectionOutcome
  reason: string
}
/** One application on a district's public notice: what the public may know (no phone, account or person). */
export interface PublicNoticeItem {
  applicationId: string
  companyName: string
  creditCode: string
  projectName: string
  /** The community's code. */
  community: string
  communityName: string
  subdistrictName: string
  /** In m², "800.00". */
  approvedArea: string
  /** In yuan, "800.00". */
  approvedAmount: string
  /** The China date of publication, YYYY-MM-DD: one day's approvals are one notice. */
  noticeDate: string
  startsAt: string
  /** The window is noticeDate to the day before endsAt (China time). */
  endsAt: string
  /** An objection waits for the district's resolution (异议处理中). */
  onHold: boolean
  /**
   * The window has ended (公示期满): objections are refused (409
   * `notice_closed`). It stays listed until the nightly job closes it, or
   * while an objection holds it.
   */
  ended: boolean
}
/** `GET /public/notices?district=`: a district's public notice, oldest publication first; no sign-in. */
export interface PublicNoticeList extends Page<PublicNoticeItem> {
  district: string
  districtName: string
  publicNoticeDays: number
  /** Every district-level unit, to pick another district's notice (no sign-in needed). */
  districts: UnitSummary[]
}
/** What an objection answers: a receipt. */
export interface ObjectionReceipt {
  applicationId: string
  seq: number
  at: string
}
/**
 * `GET /public/notices/{id}/objections/mine`: the caller's own objection
 * (404 `not_found` if they made none) and the 异议材料 they attached, with
 * the content check's verdict on each: all an objector may know of the
 * application beyond its public notice.
 */
export interface MyObjection {
  applicationId: string
  seq: number
  reason: string
  at: string
  /** The end of the notice's window (the start of the China day after its last). */
  endsAt: string
  /** The window has ended or the notice is over (closed, or returned to 审核): no more evidence. */
  ended: boolean
  /** Null while it waits for the district (异议处理中). */
  resolution: ObjectionResolution | null
  resolutionReason: string | null
  resolvedAt: string | null
  /** The caller's own `objection_evidence`, oldest first. */
  documents: DocumentView[]
}
/**
 * Where a recovery (追回) stands: opened by a district reviewer and waiting
 * for a second person in finance to confirm it (追回待确认), confirmed and
 * being repaid (追回中), or repaid in full (已追回).
 */
export type RecoveryStatus = 'awaiting_confirmation' | 'recovering' | 'recovered'
/** One repayment finance recorded against a recovery. */
export interface RepaymentView {
  /** The day the money came back, YYYY-MM-DD. */
  date: string
  /** In yuan, "100.00". */
  amount: string
  bankReference: string
  recordedAt: string
}
/** A recovery of an overpayment: amounts in yuan ("300.00"). */
export interface RecoveryView {
  amount: string
  reason: string
  status: RecoveryStatus
  repaid: string
  owed: string
  openedAt: string
  confirmedAt: string | null
  repayments: RepaymentView[]
}
/** `POST /review/district/applications/{id}/open-recovery`. */
export interface OpenRecoveryRequest {
  version: number
  amount: string
  reason: string
}
/** `POST /disbursement/applications/{id}/repayments`. */
export interface RepaymentRequest {
  version: number
  date: string
  amount: string
  bankReference: string
}
/** One application in a bulk approval (批量通过): its id and the version the reviewer saw. */
export interface BulkApproveItem {
  id: string
  version: number
}
/** `POST /review/{tier}/bulk-approve`: 1 to 100 distinct applications, each at its area under review. */
export interface BulkApproveRequest {
  items: BulkApproveItem[]
}
/** How one item of a bulk approval ended; each is approved (or not) on its own. */
export type BulkOutcome = 'approved' | 'conflict' | 'wrong_state' | 'not_found' | 'refused'
export interface BulkApproveResult {
  id: string
  outcome: BulkOutcome
  /** The error code when not approved, e.g. `version_conflict`. */
  code?: string
  message?: string
  /** The application after its approval. */
  application?: ApplicationView
}
/** The spot check (抽查) a bulk approval of more than the policy's minimum passed. */
export interface SpotCheckView {
  /** How many of the selection were eligible. */
  selected: number
  /** The applications drawn, each opened in detail by the reviewer before. */
  sampled: string[]
  seed: string
}
/** The answer of a bulk approval: a result per item, in request order. */
export interface BulkApproveResponse {
  results: BulkApproveResult[]
  approved: number
  spotCheck: SpotCheckView | null
}
/** Pending until the bytes arrive and are checked; refused (with the reason) if they are not what was declared. */
export type DocumentStatus = 'pending' | 'verified' | 'refused'
export interface DocumentView {
  id: string
  kind: DocumentKind
  fileName: string
  contentType: string
  size: number
  status: DocumentStatus
  refusal: string | null
  createdAt: string
}
export interface Precheck {
  code: string
  severity: 'info' | 'warning'
  message: string
}
export interface PrecheckReport {
  applicationId: string
  tier: Tier
  version: number
  round: number
  checkedAt: string
  checks: Precheck[]
}
/** An account in full: only in a district reviewer's reveal-bank-account answer. */
export interface RevealedAccount {
  bankName: string
  accountName: string
  accountNumber: string
}
/** What reveal-bank-account answers: the account on file and the change to verify, in full. */
export interface PayeeReveal {
  applicationId: string
  /** The application's version after the reveal: the one to verify with. */
  version: number
  companyName: string
  creditCode: string
  payee: RevealedAccount | null
  change: RevealedAccount | null
  holderNameMatches: boolean
}
/** A step with a time limit, as the ETA names it. */
export type EtaStep = 'area_confirmation' | 'community' | 'subdistrict' | 'district' | 'finance'
/**
 * How long the step an application waits at usually takes (to the company
 * only): the median, in working days, over the last 14 days in the
 * application's unit (`unit`), or city-wide with fewer than 10 there (`city`).
 */
export interface EtaView {
  step: EtaStep
  /** 0 (done the day it began) to 60. */
  workingDays: number
  scope: 'unit' | 'city'
  /** How many times the step was finished in the window, in the scope. */
  samples: number
}
export interface ApplicationDetail extends ApplicationView {
  documents: DocumentView[]
  prechecks: PrecheckReport[]
  /** Only for the company, while the application waits at a timed step someone finished lately. */
  eta?: EtaView
}
export interface AuditEntry {
  subject: string
  seq: number
  at: string
  /** `system` for the nightly job and the content check; `objector` for an objection the caller may not see the author of. */
  actorId: string
  /** Null where the caller may not know who acted (an objection, to the company or its project manager). */
  role: Role | null
  action: string
  from: string | null
  to: string
  comment: string | null
  prevHash: string
  hash: string
}
export interface PresignedRequest {
  method: string
  url: string
  headers: [string, string][]
  expiresAt: string
}
/** Where to PUT a bank's results file, and the id to import it by. */
export interface ResultsUpload {
  uploadId: string
  upload: PresignedRequest
  maxSize: number
}
export interface UploadTicket {
  document: DocumentView
  upload: PresignedRequest
}

export interface Counts {
  awaitingAreaConfirmation: number
  pendingCommunity: number
  pendingSubdistrict: number
  pendingDistrict: number
  /** Approved by the district, in the public notice window (公示中). */
  inPublicNotice: number
  returned: number
  rejected: number
  withdrawn: number
  approved: number
  inPaymentBatch: number
  paid: number
  paymentFailed: number
}
export interface Totals {
  companies: number
  projects: number
  claimedArea: string
  claimedAreaHundredths: number
  approvedArea: string
  approvedAreaHundredths: number
  claimedAmount: string
  claimedAmountFen: number
  approvedAmount: string
  approvedAmountFen: number
  /** What was paid out. */
  paidAmount: string
  paidAmountFen: number
  /** What came back of it since, by recoveries (追回). */
  recoveredAmount: string
  recoveredAmountFen: number
  /** paid − recovered. */
  netPaidAmount: string
  netPaidAmountFen: number
  /** Paid applications with a recovery not yet complete (追回待确认 or 追回中). */
  recovering: number
  /** Paid applications recovered in full (已追回). */
  recovered: number
  counts: Counts
  overdue: Overdue
}
/**
 * Of the applications counted in `counts[state]`, how many are past their
 * step's time limit (办理时限) now, for each state with a time limit.
 */
export interface Overdue {
  awaitingAreaConfirmation: number
  pendingCommunity: number
  pendingSubdistrict: number
  pendingDistrict: number
  approved: number
}
export interface UnitStats {
  unit: UnitSummary
  asOf: string | null
  totals: Totals
}
export interface StatsView extends UnitStats {
  policyId: string
  children: UnitStats[]
  /** A district-level unit's budget forecast (预算预测); null for the city, subdistricts and communities. */
  forecast: ForecastView | null
}

export interface Money {
  yuan: string
  fen: number
}
/** A Money that may be negative: `yuan` then starts with "-" ("-5010000.00"). */
export type SignedMoney = Money
export interface BudgetView {
  district: string
  allocated: Money
  committed: Money
  paid: Money
  remaining: Money
  /** What is in review, and what would remain if all of it were approved as claimed. */
  forecast: ForecastView
}
/** The claimed amounts of the applications still in review, per state. */
export interface InReview {
  awaitingAreaConfirmation: Money
  pendingCommunity: Money
  pendingSubdistrict: Money
  pendingDistrict: Money
  /** 退回补正: it may come back. */
  returned: Money
}
/**
 * A district's budget forecast (预算预测), from the live counters:
 * remainingAfterReview = allocated − approved − inReviewTotal.
 */
export interface ForecastView {
  district: string
  allocated: Money
  /** Approved amounts: paid, in payment batches, and waiting for a batch. */
  approved: Money
  inReview: InReview
  inReviewTotal: Money
  /** Negative when everything in review would not fit in the budget. */
  remainingAfterReview: SignedMoney
  /** remainingAfterReview < 0: the warning. */
  short: boolean
  /** When the counters last changed. */
  asOf: string | null
}
export interface EligibleView extends Page<ApplicationView> {
  count: number
  total: Money
  blockedByBankChange: number
  budget: BudgetView
}
export interface BatchView {
  id: string
  policyId: string
  district: string
  state: BatchState
  version: number
  note: string | null
  createdBy: string
  createdAt: string
  releasedBy: string | null
  releasedAt: string | null
  lineCount: number
  total: Money
  paidCount: number
  paid: Money
  failedCount: number
  failed: Money
  leftOutForBudget: number
  filesReady: boolean
  updatedAt: string
}
export interface LineView {
  id: string
  batchId: string
  applicationId: string
  companyName: string
  creditCode: string
  projectName: string
  payee: BankAccountView
  amount: Money
  status: LineStatus
  reason: string | null
  revises: string | null
  createdAt: string
  settledAt: string | null
}

export interface AssignmentView {
  role: StaffRole
  unit: string
  unitName: string
}
export interface StaffView {
  sub: string
  name: string
  assignments: AssignmentView[]
  active: boolean
  version: number
  createdAt: string
  updatedAt: string
  updatedBy: string
}
export interface StaffInput {
  name: string
  assignments: { role: StaffRole; unit: string }[]
  /** The version last seen; left out to create. */
  version?: number
  active?: boolean
}

export interface DemoAccount {
  username: string
  role: Role
  name: string
  jurisdiction?: string
  phoneNumber?: string
  description: string
}

/** What a notice tells; the server may add kinds, which the client words generically. */
export type NoticeKind =
  | 'area_awaiting_confirmation'
  | 'area_confirmed'
  | 'area_disputed'
  | 'returned'
  | 'rejected'
  | 'approved'
  | 'paid'
  | 'payment_failed'
  | 'bank_account_verified'
  | 'urged'
  | 'review_digest'
  | 'overdue_below'
  | 'batch_awaiting_release'
  | 'results_failed'
  | 'recovery_opened'
  | 'objection_filed'
/** One in-app notice, addressed to the caller as they act now. */
export interface NoticeView {
  id: string
  /** A NoticeKind, or one this client does not know yet. */
  kind: NoticeKind | (string & {})
  applicationId: string | null
  /** What the wording fills in, by kind: `project`, `area`, `amount`, `reason`, `by`, `company`; a daily one `date`, `tier` and counts. */
  params: Record<string, string>
  at: string
  read: boolean
  readAt: string | null
}
export interface NoticeList extends Page<NoticeView> {
  /** How many of all the caller's notices are unread. */
  unread: number
}
