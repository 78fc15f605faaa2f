import AtelierDevices
import AtelierGraph
import CAtelier
import Foundation

/// 8-bit images through libpng's simplified API, which reports errors
/// instead of longjmp'ing out of the process.
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 (gray) or 3 (RGB).
    public var channels: Int
    /// Row-major, interleaved channels.
    public var pixels: [UInt8]

    /// The largest picture read (pixels): 100 megapixels, so a corrupt or
    /// hostile header cannot make Atelier allocate gigabytes.
    public static let maximumPixels = 100_000_000

    /// Refuses a header that claims more pixels than `bytes` of file could
    /// ever hold (`perByte` pixels each at the format's best compression),
    /// before the pixels are allocated: a 69-byte PNG claiming 9000 x 9000
    /// took 243 MB to find its data missing.
    static func checkClaim(_ name: String, width: Int, height: Int, bytes: Int, perByte: Int) throws {
        guard width * height <= maximumPixels else {
            throw ImageFileError("\(name) is \(width)x\(height) pixels, more than Atelier reads (\(maximumPixels) pixels); scale it down first")
        }
        guard width * height <= bytes * perByte + 65_536 else {
            throw ImageFileError("\(name) claims \(width)x\(height) pixels but holds only \(bytes) bytes: it is truncated or damaged")
        }
    }

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

public struct ImageFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

public enum PNG {
    /// Reads a PNG file as gray (1 channel) or RGB (3), whatever it holds
    /// (ImageFile.read takes JPEG too).
    public static func read(_ path: String) throws -> PixelImage {
        try decode(try ImageFile.contents(of: path), name: path)
    }

    /// Decodes PNG bytes of any kind libpng reads (gray, gray+alpha, RGB,
    /// RGBA, palette; 1 to 16 bits) to 8-bit gray or RGB: 16-bit samples are
    /// scaled down, palettes looked up, and transparency laid over white (the
    /// background garment photos are shot on). `name` names the file in errors.
    public static func decode(_ data: Data, name: String) throws -> PixelImage {
        // libpng reads from the bytes until png_image_finish_read returns, so
        // both calls run inside one access to them.
        try data.withUnsafeBytes { bytes in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
                throw ImageFileError("\(name) is not a readable PNG: \(message(&image))")
            }
            let (w, h) = (Int(image.width), Int(image.height))
            do {
                // Deflate expands at most 1032-fold, and a pixel takes at least a bit.
                try PixelImage.checkClaim(name, width: w, height: h, bytes: bytes.count, perByte: 8 * 1032)
            } catch {
                png_image_free(&image)
                throw error
            }
            let gray = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) == 0
            image.format = gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
            let channels = gray ? 1 : 3
            var pixels = [UInt8](repeating: 0, count: w * h * channels)
            var white = png_color(red: 255, green: 255, blue: 255)
            let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, &white, $0.baseAddress, 0, nil) }
            guard ok != 0 else {
                let text = message(&image)
                png_image_free(&image)
                throw ImageFileError("\(name) is a damaged PNG: \(text)")
            }
            return PixelImage(width: w, height: h, channels: channels, pixels: pixels)
        }
    }

    /// Writes atomically (ImageFile.writeAtomically: a temporary file, then renamed).
    public static func write(_ picture: PixelImage, to path: String) throws {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(picture.width)
        image.height = UInt32(picture.height)
        image.format = picture.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        // Encoded in memory: the first call measures, the second writes.
        var size = 0
        var data = Data()
        let ok = picture.pixels.withUnsafeBytes { pixels -> Bool in
            guard png_image_write_to_memory(&image, nil, &size, 0, pixels.baseAddress, 0, nil) != 0 else { return false }
            data = Data(count: size)
            return data.withUnsafeMutableBytes {
                png_image_write_to_memory(&image, $0.baseAddress, &size, 0, pixels.baseAddress, 0, nil) != 0
            }
        }
        guard ok else { throw ImageFileError("cannot encode \(path) as PNG: \(message(&image))") }
        try ImageFile.writeAtomically(data.prefix(size), to: path)
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
