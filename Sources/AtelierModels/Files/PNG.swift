import AtelierDevices
import AtelierGraph
import CAtelier
import Foundation

/// 8-bit images through libpng's simplified API, which reports errors
/// instead of longjmp'ing out of the process.
public struct PixelImage: Sendable, Equatable {
    /// Columns.
    public var width: Int
    /// Rows.
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

    /// A picture; `pixels` must hold width x height x channels bytes.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// A picture that cannot be read, written or drawn, and why.
public struct ImageFileError: Error, CustomStringConvertible, Sendable {
    /// The message, naming the file and the fix.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// PNG files through libpng: any kind read, 8-bit gray or RGB written atomically.
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
            let mapped = image.format & UInt32(PNG_FORMAT_FLAG_COLORMAP) != 0
            let channels = gray ? 1 : 3
            var pixels: [UInt8]
            if image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0 {
                pixels = try wideSamples(&image, gray: gray, count: w * h, name: name)
            } else {
                image.format = gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
                pixels = [UInt8](repeating: 0, count: w * h * channels)
                var white = png_color(red: 255, green: 255, blue: 255)
                let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, &white, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw damaged(&image, name) }
            }
            // A palette of grays is a gray picture: one RGB file would turn a gray set RGB.
            if mapped && !gray && isGray(pixels) {
                let levels: [UInt8] = stride(from: 0, to: pixels.count, by: 3).map { pixels[$0] }
                return PixelImage(width: w, height: h, channels: 1, pixels: levels)
            }
            return PixelImage(width: w, height: h, channels: channels, pixels: pixels)
        }
    }

    /// A 16-bit file's samples as stored, scaled to 8 bits. libpng's
    /// simplified API takes 16-bit samples for linear light and would turn
    /// them into sRGB on the way to 8 bits (50 % gray became 186 of 255);
    /// read as linear they come back unconverted. Alpha comes premultiplied
    /// and is laid over white as for 8-bit files.
    private static func wideSamples(_ image: inout png_image, gray: Bool, count: Int, name: String) throws -> [UInt8] {
        let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let colours = gray ? 1 : 3, stride = colours + (alpha ? 1 : 0)
        var format = UInt32(PNG_FORMAT_FLAG_LINEAR)
        if !gray { format |= UInt32(PNG_FORMAT_FLAG_COLOR) }
        if alpha { format |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
        image.format = format
        var samples = [UInt16](repeating: 0, count: count * stride)
        let ok = samples.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw damaged(&image, name) }
        var pixels = [UInt8](repeating: 0, count: count * colours)
        for i in 0..<count {
            let cover = alpha ? 65535 - Int(samples[i * stride + colours]) : 0
            for c in 0..<colours {
                pixels[i * colours + c] = UInt8(((Int(samples[i * stride + c]) + cover) * 255 + 32767) / 65535)
            }
        }
        return pixels
    }

    /// Whether every RGB pixel has three equal values.
    private static func isGray(_ rgb: [UInt8]) -> Bool {
        var i = 0
        while i < rgb.count {
            if rgb[i] != rgb[i + 1] || rgb[i] != rgb[i + 2] { return false }
            i += 3
        }
        return true
    }

    private static func damaged(_ image: inout png_image, _ name: String) -> ImageFileError {
        let text = message(&image)
        png_image_free(&image)
        return ImageFileError("\(name) is a damaged PNG: \(text)")
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
