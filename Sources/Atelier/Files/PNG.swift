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
    /// Reads a PNG as gray (1 channel) or RGB (3), whatever it holds.
    public static func read(_ path: String) throws -> PixelImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw ImageFileError("cannot read \(path) as PNG: \(message(&image))")
        }
        let gray = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) == 0
        image.format = gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        let channels = gray ? 1 : 3
        let (w, h) = (Int(image.width), Int(image.height))
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else {
            let text = message(&image)
            png_image_free(&image)
            throw ImageFileError("\(path) is a damaged PNG: \(text)")
        }
        return PixelImage(width: w, height: h, channels: channels, pixels: pixels)
    }

    /// Writes atomically: to a temporary file, then renamed.
    public static func write(_ picture: PixelImage, to path: String) throws {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(picture.width)
        image.height = UInt32(picture.height)
        image.format = picture.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        let temporary = path + ".tmp-\(getpid())"
        let ok = picture.pixels.withUnsafeBytes {
            png_image_write_to_file(&image, temporary, 0, $0.baseAddress, 0, nil)
        }
        guard ok != 0 else {
            unlink(temporary)
            throw ImageFileError("cannot write \(path): \(message(&image))")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ImageFileError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
