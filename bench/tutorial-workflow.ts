/** The tutorial's workflow with no-op activities, as bench:workflow and its profile run it: two activities at once, then a third on both results. */
import { defineActivity, defineWorkflow } from '../src/workflows/workflow-api.js';

export const Transcoding = defineActivity({ name: 'Transcoding', version: 1 }, (video: string) => `${video}.mp4`);
export const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, (video: string) => [`${video}.jpg`]);
export const MetadataProcessing = defineActivity(
  { name: 'MetadataProcessing', version: 1 },
  (input: { file: string; thumbnails: string[] }) => ({ ...input, status: 'published' }),
);
export const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
  const transcode = wf.activity(Transcoding);
  const thumbnails = wf.activity(ThumbnailGenerator);
  const metadata = wf.activity(MetadataProcessing);
  return (video: string) => {
    const file = transcode(video);
    const thumbs = thumbnails(video);
    return metadata({ file: file.result(), thumbnails: thumbs.result() }).result();
  };
});
