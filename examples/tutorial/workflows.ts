import { setTimeout as sleep } from 'node:timers/promises';
import { defineActivity, defineWorkflow, TaskError } from 'flowd';

// Flowy's tutorial, end to end. The four activities stand in for real work.

// Layer 1 of Transcoding's options, its definition: an attempt may take 30 minutes and is not retried.
export const Transcoding = defineActivity(
  { name: 'Transcoding', version: 1, startToClose: '30m', retry: 0 },
  async (video: string, ctx) => {
    if (ctx.attempt === 1) {
      // A transcoder that gets stuck: the first attempt hangs until flowd times it out and aborts ctx.signal.
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      ctx.signal.throwIfAborted();
    }
    return { file: video.replace(/\.\w+$/, '.mp4') };
  },
);

export const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, async (video: string) => {
  if (video.endsWith('.mp3')) throw new Error(`${video} is audio only: no frame to make a thumbnail of`);
  return [video.replace(/\.\w+$/, '-1.jpg')];
});

export const AddSubtitles = defineActivity({ name: 'AddSubtitles', version: 1 }, async (video: string, ctx) => {
  await sleep(2000, undefined, { signal: ctx.signal }); // the slowest of the four
  return video.replace(/\.\w+$/, '.en.vtt');
});

export const MetadataProcessing = defineActivity(
  { name: 'MetadataProcessing', version: 1 },
  async (input: { video: string; file: string; thumbnails: string[]; warnings: string[] }) => ({ ...input, status: 'published' }),
);

export const UploadWorkflow = defineWorkflow({ name: 'UploadWorkflow', version: 1, taskList: 'video' }, (wf) => {
  // Layer 2, the proxy: in this workflow, an attempt of Transcoding still running after 300 ms is stuck.
  const transcode = wf.activity(Transcoding, { startToClose: '300ms' });
  // A failure of ThumbnailGenerator reaches its placeholder, for the body to catch.
  const thumbnails = wf.activity(ThumbnailGenerator, { errorHandling: true });
  const subtitles = wf.activity(AddSubtitles);
  const metadata = wf.activity(MetadataProcessing);
  return (video: string) => {
    // Layer 3, around the call: retry it once.
    const transcoded = wf.options({ retry: 1 }, () => transcode(video));
    const thumbs = thumbnails(video);
    subtitles(video); // its result is never read, yet the run ends only once it has
    const warnings: string[] = [];
    let images: string[];
    try {
      images = thumbs.result();
    } catch (error) {
      if (!(error instanceof TaskError)) throw error; // flowd's own signal that the result is not known yet
      warnings.push(error.cause.message);
      images = ['default.jpg'];
    }
    return metadata({ video, file: transcoded.result().file, thumbnails: images, warnings }).result();
  };
});
