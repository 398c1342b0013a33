// Moving bytes: uploads to a presigned URL with progress, and downloads
// saved under a chosen name.

import { ApiError, request } from './client'
import type { PresignedRequest } from './types'

// Browsers set these themselves (and refuse to be told).
const FORBIDDEN = new Set(['content-length', 'host', 'connection'])

/** PUTs `file` to the presigned request, reporting progress as 0..100. */
export function upload(req: PresignedRequest, file: Blob, onProgress: (pct: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(req.method, req.url)
    for (const [name, value] of req.headers) if (!FORBIDDEN.has(name.toLowerCase())) xhr.setRequestHeader(name, value)
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100))
    }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(100)
        resolve()
      } else {
        let code = 'upload_failed'
        try {
          code = JSON.parse(xhr.responseText)?.error?.code ?? code
        } catch {
          // S3 answers XML; the generic code will do.
        }
        reject(new ApiError(xhr.status, code, `upload answered ${xhr.status}`))
      }
    }
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'))
    xhr.send(file)
  })
}

/** Saves a blob under `name` through a temporary link. */
export function saveBlob(blob: Blob, name: string): void {
  const href = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = href
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(href), 60_000)
}

/** Fetches a presigned GET (no bearer token goes there) and saves it. */
export async function downloadPresigned(req: PresignedRequest, name: string): Promise<void> {
  let res: Response
  try {
    res = await fetch(req.url, { method: req.method })
  } catch {
    throw new ApiError(0, 'network', 'network error')
  }
  if (!res.ok) throw new ApiError(res.status, 'download_failed', `download answered ${res.status}`)
  saveBlob(await res.blob(), name)
}

/** Fetches an API file (e.g. the 汇总表) with the bearer token and saves it. */
export async function downloadApi(path: string, query: Record<string, string>, name: string): Promise<void> {
  const res = await request('GET', path, { query })
  saveBlob(await res.blob(), name)
}

/** Fetches a presigned GET as an object URL, for viewing in the page. */
export async function objectUrl(req: PresignedRequest): Promise<{ url: string; type: string }> {
  let res: Response
  try {
    res = await fetch(req.url, { method: req.method })
  } catch {
    throw new ApiError(0, 'network', 'network error')
  }
  if (!res.ok) throw new ApiError(res.status, 'download_failed', `download answered ${res.status}`)
  const blob = await res.blob()
  return { url: URL.createObjectURL(blob), type: blob.type }
}
