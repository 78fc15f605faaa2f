import AtelierDevices
import AtelierGraph
import CAtelier
import Foundation

/// JPEG files through libjpeg-turbo's TurboJPEG API, which returns errors
/// instead of exiting the process as plain libjpeg's default handler does.
public enum JPEG {
    /// Decodes JPEG bytes as gray (1 channel) when the file is grayscale,
    /// else RGB (3). `name` names the file in errors.
    public static func decode(_ data: Data, name: String) throws -> PixelImage {
        guard let handle = tjInitDecompress() else { throw ImageFileError("cannot start the JPEG decoder for \(name)") }
        defer { tjDestroy(handle) }
        return try data.withUnsafeBytes { raw -> PixelImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            var (width, height, subsampling, colorspace) = (Int32(0), Int32(0), Int32(0), Int32(0))
            guard tjDecompressHeader3(handle, bytes.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
                throw ImageFileError("\(name) is not a readable JPEG: \(message(handle))")
            }
            guard width > 0, height > 0 else { throw ImageFileError("\(name) is not a readable JPEG: it gives no picture size") }
            // An 8x8 block takes at least a bit of Huffman code; arithmetic
            // coding, a few hundredths: 64 x 512 pixels a byte bounds both.
            try PixelImage.checkClaim(name, width: Int(width), height: Int(height), bytes: bytes.count, perByte: 64 * 512)
            guard colorspace != Int32(TJCS_CMYK.rawValue), colorspace != Int32(TJCS_YCCK.rawValue) else {
                throw ImageFileError("\(name) is a CMYK JPEG (a print format); save it as RGB to use it")
            }
            let gray = colorspace == Int32(TJCS_GRAY.rawValue)
            let channels = gray ? 1 : 3
            var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
            let status = pixels.withUnsafeMutableBufferPointer {
                tjDecompress2(handle, bytes.baseAddress, UInt(bytes.count), $0.baseAddress, width, 0, height,
                              Int32(gray ? TJPF_GRAY.rawValue : TJPF_RGB.rawValue), 0)
            }
            // A warning (a truncated or slightly damaged file still decoded)
            // is an error here: training on half-grey pictures is worse than
            // being told which file is damaged.
            guard status == 0 else { throw ImageFileError("\(name) is a damaged JPEG: \(message(handle))") }
            return PixelImage(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
        }
    }

    /// Writes gray or RGB pixels as a baseline JPEG of `quality` (1-100),
    /// colour at full resolution (4:4:4: garment edges stay sharp),
    /// atomically (a temporary file, then renamed).
    public static func write(_ picture: PixelImage, to path: String, quality: Int = 95) throws {
        guard picture.channels == 1 || picture.channels == 3 else {
            throw ImageFileError("cannot write \(path): JPEG holds gray or RGB pixels, not \(picture.channels) channels")
        }
        guard let handle = tjInitCompress() else { throw ImageFileError("cannot start the JPEG encoder for \(path)") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let gray = picture.channels == 1
        let status = picture.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(picture.width), 0, Int32(picture.height),
                        Int32(gray ? TJPF_GRAY.rawValue : TJPF_RGB.rawValue), &output, &size,
                        Int32(gray ? TJSAMP_GRAY.rawValue : TJSAMP_444.rawValue), Int32(max(1, min(100, quality))), 0)
        }
        defer { tjFree(output) }
        guard status == 0, let output else { throw ImageFileError("cannot encode \(path) as JPEG: \(message(handle))") }
        try ImageFile.writeAtomically(Data(bytes: output, count: Int(size)), to: path)
    }

    private static func message(_ handle: tjhandle) -> String {
        tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error"
    }
}
