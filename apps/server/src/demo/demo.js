// The demo device: creates or joins a rendezvous, sends with If-Match, and waits for the peer
// with a long-poll (If-None-Match + Prefer: wait). Talks to the rendezvous server cross-origin
// when ?server= names one, so CORS is exercised exactly as a web client would.

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const server = params.get('server') || new URL('./', location.href).href
$('server').textContent = server

/** The rendezvous URL, the last ETag we know, and the ETag of our own last write. */
let url = null
let etag = null
let ownEtag = null
let sending = null

function log(text) {
  const item = document.createElement('li')
  item.textContent = text
  $('log').append(item)
}

async function logError(response) {
  let code = ''
  try {
    code = (await response.json()).errcode
  } catch {}
  log(`error ${response.status} ${code}`)
}

function connected() {
  $('create').disabled = true
  $('send').disabled = false
  $('cancel').disabled = false
}

async function create() {
  const body = $('message').value
  const response = await fetch(server, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
  if (!response.ok) return logError(response)
  url = (await response.json()).url
  etag = response.headers.get('etag')
  const joinLink = `${location.origin}${location.pathname}?server=${encodeURIComponent(server)}#join=${encodeURIComponent(url)}`
  $('join-link').href = joinLink
  $('qr').src = `demo/qr?data=${encodeURIComponent(joinLink)}`
  $('join-panel').hidden = false
  connected()
  log(`created rendezvous, sent: ${body}`)
  void waitForPeer()
}

async function join(rendezvousUrl) {
  url = rendezvousUrl
  const response = await fetch(url)
  if (!response.ok) {
    url = null
    return logError(response)
  }
  etag = response.headers.get('etag')
  connected()
  log(`joined, received: ${await response.text()}`)
  void waitForPeer()
}

async function send() {
  const body = $('message').value
  sending = fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': etag }, body })
  const response = await sending
  if (response.status === 202) {
    ownEtag = etag = response.headers.get('etag')
    log(`sent: ${body}`)
  } else {
    await logError(response)
  }
  sending = null
}

async function waitForPeer() {
  while (url) {
    let response
    try {
      response = await fetch(url, { headers: { 'if-none-match': etag, prefer: 'wait=20' } })
    } catch (error) {
      log(`network error: ${error}`)
      return
    }
    if (response.status === 304) continue
    if (response.status !== 200) {
      await logError(response)
      log('rendezvous gone')
      url = null
      return
    }
    const text = await response.text()
    // Our own write wakes our own wait too: let the PUT finish, then skip it.
    if (sending) await sending.catch(() => {})
    const tag = response.headers.get('etag')
    if (tag === ownEtag) continue
    etag = tag
    log(`received: ${text}`)
  }
}

async function cancel() {
  const target = url
  url = null
  const response = await fetch(target, { method: 'DELETE' })
  log(response.status === 204 ? 'cancelled' : `error ${response.status}`)
}

$('create').addEventListener('click', () => void create())
$('send').addEventListener('click', () => void send())
$('cancel').addEventListener('click', () => void cancel())

const joinUrl = new URLSearchParams(location.hash.slice(1)).get('join')
if (joinUrl) void join(joinUrl)
