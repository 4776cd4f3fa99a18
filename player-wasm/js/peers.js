// The P2P half of Shoal's JS shim: tracker WebSockets and WebRTC peer connections, each with
// one reliable ordered data channel. Like the rest of the shim it decides nothing: the core
// (player-core's tracker client and peer scheduler) orders what to open, send and close, and
// every fact (socket opened, frame received, SDP ready, channel open, message) goes back to
// it as an input.

/** Every ICE candidate goes into the SDP (no trickle), but gathering may not take forever. */
const DEFAULT_ICE_GATHERING_TIMEOUT_MS = 5000;

/** Uploads pause while this much is queued in a data channel, and resume below the low mark. */
const BUFFERED_HIGH_BYTES = 1024 * 1024;
const BUFFERED_LOW_BYTES = 256 * 1024;

/**
 * Tracker sockets and peer connections of one player.
 *
 * `input(fact)` hands a fact to the core (the Player's input queue).
 */
export class PeerTransport {
  /**
   * @param {(fact: object) => void} input
   * @param {{iceServers?: RTCIceServer[], iceGatheringTimeoutMs?: number}} [options]
   */
  constructor(input, options = {}) {
    this.input = input;
    this.iceServers = options.iceServers ?? [];
    this.iceGatheringTimeoutMs = options.iceGatheringTimeoutMs ?? DEFAULT_ICE_GATHERING_TIMEOUT_MS;
    this.sockets = new Map(); // tracker id -> WebSocket
    this.peers = new Map(); // connection id -> {pc, channel, upload, closed}
  }

  // ------------------------------------------------------------------ trackers

  connectTracker(tracker, url) {
    this.closeTracker(tracker);
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      // An invalid URL: report it as a closed socket, the core backs off.
      queueMicrotask(() => this.input({ type: 'trackerClosed', tracker }));
      return;
    }
    this.sockets.set(tracker, socket);
    socket.onopen = () => this.input({ type: 'trackerOpened', tracker });
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.input({ type: 'trackerMessage', tracker, text: event.data });
    };
    socket.onclose = () => {
      if (this.sockets.get(tracker) !== socket) return;
      this.sockets.delete(tracker);
      this.input({ type: 'trackerClosed', tracker });
    };
  }

  sendTracker(tracker, text) {
    const socket = this.sockets.get(tracker);
    if (socket?.readyState === WebSocket.OPEN) socket.send(text);
  }

  closeTracker(tracker) {
    const socket = this.sockets.get(tracker);
    if (!socket) return;
    this.sockets.delete(tracker);
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close();
  }

  // ------------------------------------------------------------------ peer connections

  newPeer(connection) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer = { pc, channel: null, upload: null, closed: false };
    this.peers.set(connection, peer);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.lost(connection, peer);
    };
    return peer;
  }

  /** Wires a data channel (ours or the remote's) to the core. */
  attachChannel(connection, peer, channel) {
    peer.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = BUFFERED_LOW_BYTES;
    channel.onopen = () => this.input({ type: 'peerOpened', connection });
    channel.onmessage = (event) => {
      const bytes = typeof event.data === 'string' ? new TextEncoder().encode(event.data) : new Uint8Array(event.data);
      this.input({ type: 'peerMessage', connection, bytes });
    };
    channel.onclose = () => this.lost(connection, peer);
  }

  async createOffer(connection) {
    const peer = this.newPeer(connection);
    try {
      const channel = peer.pc.createDataChannel(randomLabel(), { ordered: true });
      this.attachChannel(connection, peer, channel);
      await peer.pc.setLocalDescription(await peer.pc.createOffer());
      const sdp = await this.gatheredSdp(peer.pc);
      if (!peer.closed) this.input({ type: 'offerCreated', connection, sdp });
    } catch (error) {
      this.lost(connection, peer);
    }
  }

  async acceptOffer(connection, sdp) {
    const peer = this.newPeer(connection);
    peer.pc.ondatachannel = (event) => this.attachChannel(connection, peer, event.channel);
    try {
      await peer.pc.setRemoteDescription({ type: 'offer', sdp });
      await peer.pc.setLocalDescription(await peer.pc.createAnswer());
      const answer = await this.gatheredSdp(peer.pc);
      if (!peer.closed) this.input({ type: 'answerCreated', connection, sdp: answer });
    } catch (error) {
      this.lost(connection, peer);
    }
  }

  async applyAnswer(connection, sdp) {
    const peer = this.peers.get(connection);
    if (!peer) return;
    try {
      await peer.pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (error) {
      this.lost(connection, peer);
    }
  }

  /** The local SDP once ICE gathering completed, or whatever was gathered by the deadline. */
  gatheredSdp(pc) {
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', onChange);
        resolve(pc.localDescription.sdp);
      };
      const onChange = () => {
        if (pc.iceGatheringState === 'complete') finish();
      };
      const timer = setTimeout(finish, this.iceGatheringTimeoutMs);
      pc.addEventListener('icegatheringstatechange', onChange);
      onChange();
    });
  }

  /** The connection failed or closed on its own: tell the core once. */
  lost(connection, peer) {
    if (peer.closed) return;
    this.release(connection, peer);
    this.input({ type: 'peerClosed', connection });
  }

  /** The core closes a connection: no input about it follows. */
  close(connection) {
    const peer = this.peers.get(connection);
    if (peer) this.release(connection, peer);
  }

  release(connection, peer) {
    peer.closed = true;
    if (peer.upload) peer.upload.stopped = true;
    if (this.peers.get(connection) === peer) this.peers.delete(connection);
    if (peer.channel) {
      peer.channel.onopen = peer.channel.onmessage = peer.channel.onclose = null;
      peer.channel.close();
    }
    peer.pc.onconnectionstatechange = null;
    peer.pc.close();
  }

  send(connection, messages) {
    const channel = this.peers.get(connection)?.channel;
    if (channel?.readyState !== 'open') return;
    for (const message of messages) channel.send(message);
  }

  /**
   * Sends `header`, the body from `fromByte` in chunks, then `footer`, waiting whenever the
   * channel's queue is full. Replaces an upload to that peer under way.
   */
  async upload(connection, body, fromByte, chunkBytes, header, footer) {
    const peer = this.peers.get(connection);
    if (!peer) return;
    this.stopUpload(connection);
    const upload = { stopped: false };
    peer.upload = upload;
    let sentBytes = 0;
    const channel = peer.channel;
    const finish = (completed) => {
      if (peer.upload === upload) peer.upload = null;
      this.input({ type: 'uploadFinished', connection, sentBytes, completed });
    };
    if (!body || channel?.readyState !== 'open') return finish(false);
    try {
      for (const message of header) channel.send(message);
      for (let offset = fromByte; offset < body.byteLength; offset += chunkBytes) {
        if (channel.bufferedAmount > BUFFERED_HIGH_BYTES) await bufferDrained(channel);
        if (upload.stopped || channel.readyState !== 'open') return finish(false);
        const chunk = body.subarray(offset, Math.min(offset + chunkBytes, body.byteLength));
        channel.send(chunk);
        sentBytes += chunk.byteLength;
      }
      for (const message of footer) channel.send(message);
      finish(true);
    } catch (error) {
      finish(false);
    }
  }

  /** Stops the upload to `connection`; its loop reports what it sent. */
  stopUpload(connection) {
    const peer = this.peers.get(connection);
    if (!peer?.upload) return;
    peer.upload.stopped = true;
    peer.upload = null;
  }

  destroy() {
    for (const tracker of [...this.sockets.keys()]) this.closeTracker(tracker);
    for (const [connection, peer] of [...this.peers]) this.release(connection, peer);
  }

  /** Open peer connections (for tests and debugging; no addresses). */
  get connectionCount() {
    return this.peers.size;
  }
}

function bufferDrained(channel) {
  return new Promise((resolve) => {
    const done = () => {
      channel.removeEventListener('bufferedamountlow', done);
      channel.removeEventListener('close', done);
      resolve();
    };
    channel.addEventListener('bufferedamountlow', done);
    channel.addEventListener('close', done);
  });
}

function randomLabel() {
  const bytes = new Uint8Array(10);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
