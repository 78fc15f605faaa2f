import AtelierDevices
import AtelierGraph
import Foundation

/// GIMP's pattern files (.pat, as the gimp-data package ships real
/// photographic textures: leopard, leather, burlap, marble, wood...): a
/// big-endian header (header size, version 1, width, height, bytes per
/// pixel 1-4, the magic "GPAT", a NUL-terminated UTF-8 name), then the
/// pixels, row by row, gray, gray+alpha, RGB or RGBA. Read as gray or RGB,
/// alpha laid over white as for PNG.
public enum GimpPattern {
    /// Where Debian's gimp-data puts them.
    public static let defaultDirectory = "/usr/share/gimp/2.0/patterns"

    /// A pattern: its name and picture.
    public struct Pattern: Sendable {
        /// The name in the file's header.
        public let name: String
        /// Its pixels, gray or RGB (alpha laid over white).
        public let picture: PixelImage
    }

    /// Reads a `.pat` file.
    public static func read(_ path: String) throws -> Pattern {
        try decode(try ImageFile.contents(of: path), source: path)
    }

    /// Decodes a `.pat` file's bytes; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> Pattern {
        func fail(_ why: String) -> ImageFileError { ImageFileError("\(source) is not a usable GIMP pattern: \(why)") }
        let bytes = [UInt8](data)
        func u32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        guard bytes.count >= 24 else { throw fail("\(bytes.count) bytes, shorter than the 24-byte header") }
        guard Array(bytes[20..<24]) == Array("GPAT".utf8) else { throw fail("no GPAT magic") }
        let (headerSize, version, width, height, channels) = (u32(0), u32(4), u32(8), u32(12), u32(16))
        guard version == 1 else { throw fail("version \(version), only version 1 exists") }
        guard (1...4).contains(channels) else { throw fail("\(channels) bytes per pixel (1 to 4 are defined)") }
        guard headerSize >= 24, headerSize <= min(bytes.count, 1 << 16) else { throw fail("header size \(headerSize)") }
        guard width >= 1, height >= 1, width <= 1 << 16, height <= 1 << 16, width * height <= PixelImage.maximumPixels else {
            throw fail("size \(width)x\(height)")
        }
        let pixels = width * height * channels
        guard bytes.count >= headerSize + pixels else {
            throw fail("truncated: \(bytes.count - headerSize) bytes of pixels, \(pixels) needed for \(width)x\(height)x\(channels)")
        }
        let nameBytes = bytes[24..<headerSize].prefix { $0 != 0 }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let raw = bytes[headerSize..<headerSize + pixels]
        let out: [UInt8]
        let outChannels = channels <= 2 ? 1 : 3
        switch channels {
        case 1, 3:
            out = Array(raw)
        default:
            // Alpha over white.
            var composed = [UInt8](repeating: 0, count: width * height * outChannels)
            let colour = channels - 1
            raw.withUnsafeBufferPointer { src in
                for i in 0..<(width * height) {
                    let alpha = Int(src[i * channels + colour])
                    for c in 0..<colour {
                        composed[i * colour + c] = UInt8((Int(src[i * channels + c]) * alpha + 255 * (255 - alpha) + 127) / 255)
                    }
                }
            }
            out = composed
        }
        return Pattern(name: name, picture: PixelImage(width: width, height: height, channels: outChannels, pixels: out))
    }

    /// Every pattern under `directory` by its path below it without the
    /// extension ("Animal/leopard"), sorted.
    public static func list(_ directory: String = defaultDirectory) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw DatasetError("\(directory) does not exist: install GIMP's patterns with `apt-get install gimp-data` (Tools/scripts/install-deps.sh does)")
        }
        var names: [String] = []
        while let path = walker.nextObject() as? String {
            if path.lowercased().hasSuffix(".pat") { names.append(String(path.dropLast(4))) }
        }
        return names.sorted()
    }
}
