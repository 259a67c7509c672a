import { appendFile } from 'node:fs/promises';
import { defineActivity, defineWorkflow } from 'flowd';

/** The video to process; `seconds` stretches each activity, to watch the run (and to kill the daemon mid-way). */
interface Upload {
  video: string;
  seconds?: number;
}

/** Works for `seconds`, heartbeating every 100 ms, and notes each run in $VIDEO_LOG (the tests count them). */
async function work(name: string, input: Upload, ctx: { heartbeat(details?: number): void; signal: AbortSignal }): Promise<void> {
  if (process.env.VIDEO_LOG)
    await appendFile(
      process.env.VIDEO_LOG,
      `${JSON.stringify({ activity: name, video: input.video, pid: process.pid, at: Date.now() })}\n`,
    );
  const end = Date.now() + (input.seconds ?? 1) * 1000;
  while (Date.now() < end) {
    ctx.signal.throwIfAborted();
    ctx.heartbeat(Math.round(100 * (1 - (end - Date.now()) / ((input.seconds ?? 1) * 1000))));
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(0, end - Date.now()))));
  }
}

export const Transcoding = defineActivity(
  { name: 'Transcoding', version: 1, heartbeat: '5s', startToClose: '10m', retries: 2 },
  async (input: Upload, ctx) => {
    await work('Transcoding', input, ctx);
    return { file: input.video.replace(/\.[^.]+$/, '') + '.mp4', codec: 'h264' };
  },
);

export const ThumbnailGenerator = defineActivity(
  { name: 'ThumbnailGenerator', version: 1, heartbeat: '5s', startToClose: '5m', retries: 2 },
  async (input: Upload, ctx) => {
    await work('ThumbnailGenerator', input, ctx);
    const base = input.video.replace(/\.[^.]+$/, '');
    return [`${base}-1.jpg`, `${base}-2.jpg`, `${base}-3.jpg`];
  },
);

export const MetadataProcessing = defineActivity(
  { name: 'MetadataProcessing', version: 1, startToClose: '1m', retries: 2 },
  async (input: { video: string; transcoded: { file: string; codec: string }; thumbnails: string[]; seconds?: number }, ctx) => {
    await work('MetadataProcessing', { video: input.video, seconds: (input.seconds ?? 1) / 2 }, ctx);
    return {
      video: input.video,
      file: input.transcoded.file,
      codec: input.transcoded.codec,
      thumbnails: input.thumbnails.length,
      status: 'published',
    };
  },
);

/**
 * Plain sequential code: transcode() and thumbnails() return placeholders at
 * once, so both are scheduled together; metadata() needs both results, so it
 * is scheduled when they have finished.
 */
export const UploadWorkflow = defineWorkflow({ name: 'UploadWorkflow', version: 1, taskList: 'video' }, (wf) => {
  const transcode = wf.activity(Transcoding);
  const thumbnails = wf.activity(ThumbnailGenerator);
  const metadata = wf.activity(MetadataProcessing);
  return (input: Upload) => {
    const transcoded = transcode(input);
    const thumbs = thumbnails(input);
    return metadata({
      video: input.video,
      transcoded: transcoded.result(),
      thumbnails: thumbs.result(),
      ...(input.seconds === undefined ? {} : { seconds: input.seconds }),
    }).result();
  };
});
