import ArgumentParser
import Atelier

extension ModelKind: ExpressibleByArgument {}
extension GANLoss: ExpressibleByArgument {}
extension TranslationSettings.Direction: ExpressibleByArgument {}
extension TranslationSettings.Norm: ExpressibleByArgument {}
extension PictureFit: ExpressibleByArgument {}
