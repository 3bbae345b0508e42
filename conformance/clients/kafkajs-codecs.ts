// Registers snappy, lz4 and zstd codecs with kafkajs (which ships only gzip), backed by the project's
// own protocol/records compression. kafkajs's plug-in contract: CompressionCodecs[type] is a factory
// returning { compress(encoder) → Buffer, decompress(buffer) → Buffer }.
import kafkajs from "kafkajs";
import { Compression, compress, decompress } from "../../protocol/records/index.ts";

const { CompressionCodecs, CompressionTypes } = kafkajs;

let registered = false;

export function registerKafkajsCodecs(): void {
  if (registered) return;
  registered = true;
  const codec = (c: Compression) => () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(c, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(c, buffer),
  });
  CompressionCodecs[CompressionTypes.Snappy] = codec(Compression.Snappy);
  CompressionCodecs[CompressionTypes.LZ4] = codec(Compression.Lz4);
  CompressionCodecs[CompressionTypes.ZSTD] = codec(Compression.Zstd);
}
