/**
 * offpay/fsk — the acoustic transport: bytes <-> multi-tone FSK audio (spec/fsk.md).
 *
 * Pure TypeScript, browser-safe. Node file helpers live in './node.js'; Web Audio helpers in './webaudio.js'
 * (re-exported here since they only touch the Web Audio types).
 */
export {
  FSK_PROFILES, FSK_PROFILE_NAMES, FRAME_VERSION, getProfile, profileById, toneHz, type FskProfile, type FskProfileName, type Modulation,
  PROFILES, PROFILE_NAMES, type Profile, type ProfileName,
} from './profiles.js';
export {
  airTime, frameDuration, frameMicros, frameSamples, segmentGapSamples, SEGMENT_GAP_US, rowsForPayload, layoutForRows, buildFrame, MAX_FRAME_PAYLOAD, MAX_MESSAGE, MAX_SEGMENTS, HEADER_BYTES, CRC_BYTES,
} from './frame.js';
export { encode, segmentPayload, DEFAULT_PEAK, SEGMENT_GAP, MIN_RATE, MAX_RATE, type FskEncodeOptions, type EncodeOptions } from './modulate.js';
export {
  FskReceiver, decode, decodeMessage, type ReceiverOptions, type ReceiverEvent, type FskFrame, type FrameDiagnostics,
  type InputLevel, type DecodeResult, type DecodedMessage,
} from './receive.js';
export { readWav, writeWav, type WavData, type WavFormat } from './wav.js';
export { simulate, speechLike, musicLike, roomImpulseResponse, whiteNoise, pinkNoise, activePower, resample, type ChannelOptions, type ChannelResult } from './sim.js';
export { makeRng, type Rng } from './prng.js';
export { crc32 } from '../../base/crc32.js';
export { rsEncode, rsDecode, rsGenerator } from './rs.js';
export {
  toAudioBuffer, encodeToAudioBuffer, playPayload, startCapture, captureModuleUrl, CAPTURE_PROCESSOR_NAME, CAPTURE_WORKLET_SOURCE,
  type CaptureHandle,
  type CaptureLevel,
} from './webaudio.js';
