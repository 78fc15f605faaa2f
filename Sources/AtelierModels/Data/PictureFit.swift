import AtelierDevices
import AtelierGraph
/// How a picture of any size becomes a model's square input and the output
/// goes back to the picture's size: stretched to the square and back
/// (`resize`), or scaled to fit inside it on white and cropped out again
/// (`pad`, which keeps the aspect).
public enum PictureFit: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case resize, pad
    public var description: String { rawValue }

    /// Where the picture sits in the square, to undo the fit.
    public struct Placement: Sendable {
        public let width: Int, height: Int
        let x: Int, y: Int, innerWidth: Int, innerHeight: Int
    }

    /// The picture as a `side` x `side` input of `channels` channels in
    /// [-1, 1] ([C, S, S] flattened), and how to undo it.
    public func input(_ picture: PixelImage, side: Int, channels: Int) -> ([Float], Placement) {
        var p = Resample.channels(picture, channels)
        let placement: Placement
        switch self {
        case .resize:
            p = Resample.resize(p, width: side, height: side)
            placement = Placement(width: picture.width, height: picture.height, x: 0, y: 0, innerWidth: side, innerHeight: side)
        case .pad:
            let scale = Double(side) / Double(max(picture.width, picture.height))
            let (w, h) = (max(1, Int((Double(picture.width) * scale).rounded())), max(1, Int((Double(picture.height) * scale).rounded())))
            let inner = Resample.resize(p, width: w, height: h)
            let (x, y) = ((side - w) / 2, (side - h) / 2)
            var pixels = [UInt8](repeating: 255, count: side * side * channels)
            for row in 0..<h {
                let source = row * w * channels, target = ((y + row) * side + x) * channels
                pixels.replaceSubrange(target..<target + w * channels, with: inner.pixels[source..<source + w * channels])
            }
            p = PixelImage(width: side, height: side, channels: channels, pixels: pixels)
            placement = Placement(width: picture.width, height: picture.height, x: x, y: y, innerWidth: w, innerHeight: h)
        }
        return (Resample.planar(p).map { Float($0) / 127.5 - 1 }, placement)
    }

    /// A model output ([C, S, S] in [-1, 1]) back at the picture's size.
    public static func output(_ values: ArraySlice<Float>, channels: Int, side: Int, placement: Placement) -> PixelImage {
        let plane = side * side
        var pixels = [UInt8](repeating: 0, count: plane * channels)
        let base = values.startIndex
        for i in 0..<plane {
            for c in 0..<channels {
                pixels[i * channels + c] = UInt8(max(0, min(255, ((values[base + c * plane + i] + 1) * 127.5).rounded())))
            }
        }
        let square = PixelImage(width: side, height: side, channels: channels, pixels: pixels)
        let inner = Resample.crop(square, x: placement.x, y: placement.y, width: placement.innerWidth, height: placement.innerHeight)
        return Resample.resize(inner, width: placement.width, height: placement.height)
    }

    /// The input half of a side-by-side pair (A left, B right).
    public static func half(of pair: PixelImage, right: Bool) throws -> PixelImage {
        guard pair.width % 2 == 0 else {
            throw DatasetError("a side-by-side pair is two halves of equal width; this picture is \(pair.width)x\(pair.height)")
        }
        return Resample.crop(pair, x: right ? pair.width / 2 : 0, y: 0, width: pair.width / 2, height: pair.height)
    }
}
