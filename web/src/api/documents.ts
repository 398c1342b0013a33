// Documents on an application: the two-step upload (register the document,
// then send its bytes with exactly the method, URL and headers the server
// signed) and the download of a checked one. Who may attach which kind is
// the server's; see lib/documents.ts.

import { get, post } from './client'
import { upload } from './transfer'
import type { DocumentKind, DocumentView, PresignedRequest, UploadTicket } from './types'

/**
 * Registers `file` as a document of `kind` on the application (201 with
 * the upload ticket), then sends its bytes to the signed request,
 * reporting progress 0..100. Resolves with the document as registered
 * (status `pending`: the content is checked when the bytes arrive).
 * Rejects with the ApiError of either step.
 */
export async function uploadDocument(
  applicationId: string,
  kind: DocumentKind,
  file: Blob & { name: string },
  contentType: string,
  onProgress: (pct: number) => void = () => {},
): Promise<DocumentView> {
  const ticket = await post<UploadTicket>(`/applications/${encodeURIComponent(applicationId)}/documents`, {
    kind,
    fileName: file.name,
    contentType,
    size: file.size,
  })
  await upload(ticket.upload, file, onProgress)
  return ticket.document
}

/** Where to fetch a checked document's bytes (a short-lived presigned GET; no token goes there). */
export async function documentDownload(applicationId: string, documentId: string): Promise<PresignedRequest> {
  const { download } = await get<{ download: PresignedRequest }>(
    `/applications/${encodeURIComponent(applicationId)}/documents/${encodeURIComponent(documentId)}`,
  )
  return download
}
