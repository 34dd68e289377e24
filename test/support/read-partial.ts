/** Reads a body as far as it goes: how many bytes arrived, and the error that ended it early, if any. */
export async function readPartial(response: Response): Promise<{ bytes: number; error?: unknown }> {
  const reader = response.body!.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes };
      bytes += value.length;
    }
  } catch (error) {
    return { bytes, error };
  }
}
