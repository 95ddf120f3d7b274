"""Everyday names of establishments and trades -> the words of the SCIAN catalogue (no Dagster).

The catalogue says "Restaurantes con servicio de preparación de tacos y tortas", "Comercio al por menor de
calzado" and "Edificación de vivienda unifamiliar"; people type "taquería", "zapatería" and "constructora de casas".
Three sources meet them, none taken from a query set:

1. **Morphology** (:func:`base_words`, applied to every query word by the engine): Spanish names a shop or workshop
   after what it sells or makes with *-ería* (tortillería, taquería, heladería), a trade or a place with *-ero* /
   *-era* (llantera, gasolinera, zapatero), an establishment after its verb with *-dora* (purificadora ->
   purificación), and shrinks words with *-ito* / *-ita* (tiendita). The rules undo the suffix and its spelling
   changes (taqu- -> taco, marisqu- -> marisco, jugu- -> jugo, cervec- -> cerveza, dulc- -> dulce) and give candidate
   base words; the index keeps only the candidates whose stem is in its vocabulary (catalogue titles, their parents,
   CIIU notes and register examples), so a rule adds words of the corpus, never invented ones. A few derivations
   no rule produces are listed by hand (:data:`IRREGULAR`: panadería <- pan, carnicería <- carne, herrería <- hierro).
2. **Word equivalences** (:data:`EQUIVALENTS`, also given by :func:`base_words`, so applied the same way and kept
   only where the catalogue uses the word): the everyday Mexican word for a thing the catalogue names otherwise
   (casa -> vivienda, carro -> automóvil, zapato -> calzado, celular -> teléfono, chela -> cerveza, fierro ->
   hierro, puerco -> porcino, renta -> alquiler). One word serves every class that names the thing (a casa meets
   the builders, the landlords and the furniture shops of viviendas alike), which a list of names per class cannot;
   a shop named with *-ería* after such a word meets it too (zapatería -> zapato -> calzado).
3. **Hand-written names** (:data:`EVERYDAY_NAMES`, added to the class documents as ``Nombres comunes: ...``):
   general knowledge of Mexican names of establishments, trades and activities that neither the rules nor the
   equivalences derive from the class's own text (tlapalería is a ferretería, a vulcanizadora repairs tyres, an
   estética is a salón de belleza, a cine exhibits películas, a tinacal makes pulque). A name whose words the
   rules already meet in its class's own text is not listed, unless those words also meet many other classes
   (carnicería: the rule's "carne" is in some 20 titles; the name says the shop is the retail one): :func:`met_by`
   checks one name, :func:`redundant_names` the list (a real-data test keeps it at none). The names cover the
   common establishments of the country's business directory across sectors (farms, mines, trades, workshops,
   shops, transport, finance, professional, health, education, leisure, food and lodging, repairs and personal
   services, associations, government offices).

The judged dev set of the site search (``site_queries_dev.json``) shares words with some of these names, so
``fmlake search evaluate --site-queries FILE --everyday-leave-out`` also reports the dev set with every hand-written
name that shares a word with one of its queries removed: how much of the result the list carries for queries it
was not written for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assets.search.text import STOPWORDS, fold, tokens

# hand-written, general Spanish knowledge: derivations no suffix rule makes (folded word -> base words)
IRREGULAR: dict[str, tuple[str, ...]] = {
    "panaderia": ("pan",), "panadero": ("pan",), "panaderias": ("pan",),
    "carniceria": ("carne",), "carnicero": ("carne",), "carnicerias": ("carne",),
    "herreria": ("hierro",), "herrero": ("hierro",), "ferreteria": ("hierro",),
    "verduleria": ("verdura",), "verdulero": ("verdura",), "vinateria": ("vino",),
    "neveria": ("nieve",), "cafeteria": ("cafe",), "rosticeria": ("rostizado",),
    "tapiceria": ("tapiz",), "tapicero": ("tapiz",), "constructora": ("construccion",),
}

# hand-written, general Spanish (Mexico) knowledge: the everyday word for a thing the SCIAN catalogue names with
# another word (folded singular word -> the catalogue's words; plurals in -s / -es are looked up as their singular).
# No entry where the catalogue's own use of the word says where it belongs (tamal is in the notes of 722519, where a
# tamalería is classed); where it uses the word only in fixed names (casas de cambio, de empeño) the entry stays:
# those still meet it exactly, the equivalent counts as an expansion (IndexConfig.expand_weight).
EQUIVALENTS: dict[str, tuple[str, ...]] = {
    # housing and building
    "casa": ("vivienda",), "depa": ("departamento",), "fierro": ("hierro",), "block": ("bloque",),
    "pintor": ("pintura",), "plomero": ("hidrosanitaria",), "plomeria": ("hidrosanitaria",),
    "fontanero": ("hidrosanitaria",), "fontaneria": ("hidrosanitaria",),
    # vehicles
    "carro": ("automovil",), "coche": ("automovil",), "auto": ("automovil",), "troca": ("camioneta",),
    "moto": ("motocicleta",), "bici": ("bicicleta",), "trailer": ("tractocamion",), "neumatico": ("llanta",),
    "golpe": ("hojalateria",), "abolladura": ("hojalateria",),
    # farm animals and crops
    "puerco": ("porcino",), "cerdo": ("porcino",), "cochino": ("porcino",), "marrano": ("porcino",),
    "res": ("bovino",), "vaca": ("bovino",), "chivo": ("caprino",), "cabra": ("caprino",),
    "borrego": ("ovino",), "oveja": ("ovino",), "caballo": ("equido",), "conejo": ("cunicultura",),
    "abeja": ("apicultura",), "elote": ("maiz",), "milpa": ("maiz",), "maguey": ("agave",),
    # food and drink
    "chela": ("cerveza",), "cheve": ("cerveza",), "chesco": ("refresco",), "tequila": ("agave",),
    "mezcal": ("agave",), "nieve": ("helado",), "bolillo": ("pan",), "golosina": ("dulce",),
    "queso": ("lacteo",), "yogur": ("lacteo",), "jamon": ("embutido",), "salchicha": ("embutido",),
    "chorizo": ("embutido",), "quesadilla": ("antojito",), "gordita": ("antojito",), "sope": ("antojito",),
    "pozole": ("antojito",), "tlacoyo": ("antojito",),
    # things people buy
    "zapato": ("calzado",), "anteojos": ("lentes",), "gafas": ("lentes",), "celular": ("telefono",),
    "cel": ("telefono",), "compu": ("computadora", "computo"), "computadora": ("computo",),
    "laptop": ("computadora", "computo"), "tele": ("television",), "perro": ("mascota",), "gato": ("mascota",),
    "estufa": ("electrodomestico",), "refrigerador": ("electrodomestico",), "refri": ("electrodomestico",),
    "lavadora": ("electrodomestico",), "maquillaje": ("cosmetico",), "cuaderno": ("papeleria",),
    "super": ("supermercado",), "clavo": ("ferreteria",), "tornillo": ("ferreteria",), "tuerca": ("ferreteria",),
    "taquete": ("ferreteria",), "pija": ("ferreteria",),
    # people and places of services
    "doctor": ("medico",), "doctora": ("medico",), "dentista": ("dental",), "abogado": ("juridico",),
    "abogada": ("juridico",), "contador": ("contabilidad",), "contadora": ("contabilidad",),
    "panteon": ("cementerio",), "camposanto": ("cementerio",), "iglesia": ("religiosa",),
    "templo": ("religiosa",), "parroquia": ("religiosa",), "colegio": ("escuela",), "renta": ("alquiler",),
    "rentar": ("alquiler",), "foto": ("fotografia",), "imprenta": ("impresion",), "basura": ("residuo",),
    "mina": ("mineria",), "pescador": ("pesca",), "luz": ("electricidad", "electrica"),
    # what a trade does, in the verbs people use for it (componer: to repair, in Mexico)
    "arreglar": ("reparacion",), "arreglan": ("reparacion",), "arregla": ("reparacion",),
    "arreglo": ("reparacion",), "componer": ("reparacion",), "componen": ("reparacion",),
    "compone": ("reparacion",), "compostura": ("reparacion",),
}

# hand-written, general knowledge of Mexican names of establishments, trades and activities, per SCIAN 2018 class;
# only names the suffix rules and equivalences do not derive from the class's own text, or whose words also meet
# many other classes (a name may point to several classes)
EVERYDAY_NAMES: dict[str, tuple[str, ...]] = {
    # agriculture, livestock, fishing
    "111151": ("milpa",),
    "111310": ("huerta de naranja",),
    "111321": ("huerta de limón",),
    "111331": ("cafetal", "finca cafetalera"),
    "111332": ("huerta de plátano",),
    "111333": ("huerta de mango",),
    "111334": ("huerta de aguacate",),
    "111335": ("viñedo",),
    "111336": ("huerta de manzana",),
    "111337": ("cacaotal",),
    "111338": ("huerta de coco", "copra"),
    "111421": ("flores de corte",),
    "111423": ("árboles de navidad",),
    "111930": ("zafra",),
    "111991": ("jimador",),
    "112110": ("engorda de ganado", "rancho ganadero"),
    "112120": ("establo lechero",),
    "112211": ("chiquero",),
    "112312": ("granja avícola", "gallinas ponedoras"),
    "112320": ("pollos de engorda", "granja de pollos"),
    "112410": ("ganado lanar",),
    "112420": ("chivero",),
    "112511": ("granja camaronera",),
    "112512": ("granja de peces", "granja de tilapia", "granja de truchas"),
    "112910": ("apiario", "producción de miel"),
    "112930": ("granja de conejos",),
    "112999": ("criadero de perros",),
    "113110": ("reforestación",),
    "113212": ("chiclero", "recolección de hongos"),
    "113310": ("leñador",),
    "114119": ("pescadores", "cooperativa pesquera"),
    "115119": ("jornaleros",),
    "115210": ("inseminación artificial", "trasquila"),
    # mining and utilities
    "211111": ("pozo petrolero", "plataforma petrolera", "Pemex"),
    "212110": ("pocitos de carbón",),
    "212221": ("gambusino",),
    "212311": ("banco de caliza",),
    "212319": ("cantera",),
    "212321": ("banco de material", "arenera"),
    "212322": ("banco de tezontle",),
    "212391": ("salinas",),
    "213119": ("barrenación",),
    "221111": ("termoeléctrica",),
    "221112": ("hidroeléctrica",),
    "221113": ("parque solar", "granja solar"),
    "221114": ("parque eólico", "aerogeneradores"),
    "221119": ("nucleoeléctrica",),
    "221122": ("compañía de luz", "CFE"),
    "221312": ("sistema de agua potable", "organismo operador de agua", "junta de agua", "comité de agua potable"),
    # construction
    "236111": ("casas habitación",),
    "236112": ("edificio de departamentos", "condominios"),
    "237111": ("red de agua potable",),
    "237112": ("riego por goteo",),
    "237131": ("líneas de transmisión",),
    "237132": ("fibra óptica", "torres de telecomunicaciones"),
    "237211": ("fraccionadora", "lotificación"),
    "237212": ("banquetas y guarniciones",),
    "237311": ("balizamiento",),
    "237312": ("pavimentación", "constructora de caminos"),
    "238110": ("pilotes",),
    "238130": ("maestro de obras", "obra negra"),
    "238190": ("techado", "impermeabilización"),
    "238210": ("electricista",),
    "238221": ("plomería", "plomero"),
    "238222": ("minisplit",),
    "238311": ("tablaroca", "plafones"),
    "238312": ("yesero",),
    "238320": ("pintor de casas",),
    "238330": ("duela", "piso laminado"),
    "238340": ("colocación de loseta",),
    "238350": ("carpintería de obra",),
    "238910": ("movimiento de tierras",),
    # manufacturing
    "311110": ("alimento balanceado",),
    "311311": ("ingenio azucarero",),
    "311319": ("trapiche",),
    "311340": ("dulces típicos", "mazapán"),
    "311422": ("mermeladas", "encurtidos", "chiles en vinagre"),
    "311511": ("pasteurizadora",),
    "311513": ("quesería", "fábrica de quesos"),
    "311520": ("fábrica de paletas y helados",),
    "311611": ("rastro", "matadero"),
    "311612": ("obrador",),
    "311613": ("carnes frías",),
    "311710": ("empacadora de pescado", "atunera", "sardinera"),
    "311811": ("fábrica de pan",),
    "311812": ("pan dulce", "bizcochería", "panadería"),
    "311830": ("molino de nixtamal", "tortillería"),
    "311910": ("frituras", "papas fritas"),
    "311940": ("salsa picante", "mole en pasta"),
    "312112": ("garrafones de agua",),
    "312113": ("fábrica de hielo",),
    "312120": ("cerveza artesanal",),
    "312131": ("vinícola", "bodega de vinos"),
    "312132": ("tinacal",),
    "312139": ("tepache",),
    "312141": ("aguardiente", "charanda"),
    "312142": ("tequilera", "mezcalera", "raicilla", "bacanora"),
    "312149": ("sotol",),
    "313310": ("estampado de telas", "teñido de telas"),
    "314992": ("hamacas", "mecates"),
    "315192": ("suéteres",),
    "315210": ("chamarras de piel",),
    "315221": ("pijamas",),
    "315225": ("costurera", "modista", "sastrería"),
    "315229": ("maquiladora de ropa", "taller de costura", "pantalones de mezclilla", "maquila de ropa"),
    "316110": ("curtiduría",),
    "316991": ("marroquinería",),
    "321920": ("tarimas", "pallets", "huacales"),
    "321991": ("cestería", "mimbre"),
    "321992": ("artesanías de madera",),
    "322210": ("cajas de cartón",),
    "322291": ("papel higiénico", "toallas femeninas"),
    "323119": ("imprenta", "serigrafía", "impresión de lonas", "tarjetas de presentación"),
    "323120": ("encuadernación",),
    "325120": ("oxígeno",),
    "325320": ("insecticidas", "herbicidas"),
    "325412": ("laboratorio farmacéutico",),
    "325610": ("cloro",),
    "325920": ("pirotecnia", "cohetes", "juegos pirotécnicos", "polvorín"),
    "326212": ("renovadora de llantas",),
    "327111": ("talavera", "artesanías de barro", "ollas de barro"),
    "327215": ("vidrio soplado",),
    "327410": ("calera",),
    "327991": ("marmolería", "lápidas", "cantera labrada"),
    "332320": ("portones", "protecciones para ventanas", "rejas", "zaguanes"),
    "332510": ("chapas",),
    "332610": ("malla ciclónica", "alambre de púas"),
    "332710": ("taller de torno", "tornería"),
    "332810": ("galvanizadora", "cromado"),
    "333111": ("implementos agrícolas",),
    "336110": ("armadora de autos", "planta automotriz"),
    "336210": ("cajas secas", "redilas"),
    "336390": ("fábrica de autopartes",),
    "336610": ("astillero",),
    "337120": ("carpintería", "taller de carpintería", "ebanistería", "ebanista"),
    "339113": ("laboratorio óptico",),
    "339912": ("platería",),
    "339920": ("balones",),
    "339991": ("guitarrero", "laudería"),
    "339994": ("cerería",),
    "339995": ("féretros",),
    "339999": ("piñatas",),
    # wholesale
    "431110": ("abarrotes al mayoreo",),
    "431130": ("central de abasto",),
    "431140": ("distribuidora de huevo",),
    "431192": ("distribuidora de botanas",),
    "431211": ("distribuidora de refrescos",),
    "431213": ("distribuidora de cerveza", "agencia de cerveza"),
    "433110": ("distribuidora de medicamentos", "droguería"),
    "433510": ("distribuidora de línea blanca",),
    "434111": ("agroquímica", "casa agrícola"),
    "434112": ("forrajera", "agroveterinaria"),
    "434211": ("materialista", "casa de materiales"),
    "434221": ("casa de aceros", "varilla"),
    "434222": ("distribuidora de químicos",),
    "434223": ("distribuidora de empaques",),
    "434226": ("distribuidora de pinturas",),
    "434228": ("introductor de ganado", "compraventa de ganado"),
    "434311": ("chatarrera", "fierro viejo"),
    "434312": ("recicladora de cartón",),
    "434313": ("recicladora de vidrio",),
    "434314": ("recicladora de plástico",),
    "434319": ("compra de pet", "centro de acopio de reciclables"),
    "435110": ("tractores",),
    "435412": ("muebles de oficina",),
    "436111": ("agencia de camiones",),
    "437111": ("acopiador", "comisionista"),
    # retail
    "461110": ("tienda de la esquina", "changarro", "tiendita de la esquina", "tendajón", "abarrotes", "tiendita"),
    "461121": ("carnicería",),   # the rule's "carne" meets some 20 classes (slaughter, wholesale, retail)
    "461122": ("pollería", "venta de pollo"),
    "461130": ("recaudería",),
    "461150": ("cremería", "salchichonería", "carnes frías"),
    "461212": ("depósito de cerveza", "expendio de cerveza"),
    "462112": ("tienda de conveniencia", "oxxo"),
    "463112": ("sábanas",),
    "463211": ("tienda de ropa", "boutique"),
    "463214": ("vestidos de quince años", "vestidos de XV"),
    "463310": ("zapatería", "venta de zapatos"),
    "464111": ("botica", "farmacia similares"),
    "464113": ("herbolaria", "hierbería", "suplementos"),
    "464121": ("óptica",),
    "465111": ("tienda de belleza", "artículos de belleza"),
    "465215": ("tienda deportiva",),
    "465216": ("tienda de música",),
    "465311": ("útiles escolares",),
    "465313": ("voceador", "kiosco de revistas"),
    "465911": ("tienda de mascotas", "acuario"),
    "465912": ("tienda de regalos",),
    "465915": ("mercado de artesanías",),
    "465919": ("artículos para fiestas", "piñatería"),
    "466114": ("venta de trastes",),
    "466211": ("tienda de computadoras",),
    "466212": ("tienda de celulares",),
    "466311": ("tapetes",),
    "466312": ("vivero",),
    "466313": ("galería de arte",),
    "466410": ("bazar", "tienda de segunda mano", "ropa de paca"),
    "467111": ("ferre",),
    "467112": ("azulejos",),
    "467113": ("tienda de pinturas",),
    "467114": ("vidrio y aluminio",),
    "467115": ("jarcería",),
    "467116": ("casa de materiales",),
    "468111": ("agencia de autos", "concesionaria"),
    "468112": ("lote de autos", "seminuevos"),
    "468211": ("autopartes", "refaccionaria"),
    "468212": ("yonke", "deshuesadero"),
    "468311": ("agencia de motos",),
    "468411": ("Pemex", "estación de servicio"),
    "468412": ("gasera", "pipas de gas"),
    "469110": ("tienda en línea",),
    # transport
    "481111": ("aerolínea",),
    "481210": ("vuelos chárter", "taxi aéreo", "avionetas"),
    "482110": ("tren de carga",),
    "483111": ("naviera",),
    "484119": ("fletes",),
    "484129": ("tráileres",),
    "484221": ("acarreo de material", "camión de volteo", "volteos"),
    "485111": ("camión urbano", "microbús"),
    "485112": ("pesero", "combi"),
    "485115": ("metrobús", "macrobús"),
    "485210": ("línea de autobuses", "autobuses foráneos"),
    "485312": ("taxi libre",),
    "485990": ("mototaxi",),
    "487110": ("turibús",),
    "487210": ("trajineras", "paseos en lancha"),
    "487990": ("paseos en globo",),
    "488320": ("estibadores",),
    "488410": ("grúas de arrastre",),
    "488491": ("central de autobuses",),
    "488492": ("caseta de cobro", "autopista de cuota"),
    "488511": ("agente aduanal",),
    "488519": ("agente de carga",),
    "491110": ("correos", "oficina de correos", "Correos de México"),
    "492210": ("mandaditos",),
    "493119": ("bodega", "renta de bodegas"),
    "493120": ("cámara de refrigeración", "frigorífico"),
    "493130": ("silos", "bodega de granos"),
    # information, finance, real estate
    "511111": ("diario",),
    "511131": ("editorial",),
    "512111": ("productora de cine",),
    "512130": ("cine", "sala de cine", "autocinema"),
    "512250": ("disquera",),
    "512290": ("estudio de grabación",),
    "515110": ("estación de radio", "radiodifusora"),
    "515120": ("televisora", "canal de televisión"),
    "517311": ("compañía telefónica", "Telmex"),
    "517312": ("telefonía celular", "Telcel"),
    "517410": ("internet satelital", "televisión satelital"),
    "518210": ("centro de datos", "hosting"),
    "519130": ("página web", "portal de noticias", "buscador", "red social"),
    "521110": ("Banco de México", "Banxico"),
    "522110": ("banco", "sucursal bancaria", "cajero automático"),
    "522210": ("Nafin",),
    "522451": ("monte de piedad",),
    "522460": ("sofom",),
    "522490": ("casa de préstamos", "préstamos personales"),
    "522510": ("broker hipotecario",),
    "523122": ("cambio de dólares",),
    "524110": ("aseguradora", "seguro de auto", "seguro de gastos médicos"),
    "524220": ("afore",),
    "531113": ("salón de eventos", "jardín de eventos"),
    "531114": ("plaza comercial", "centro comercial"),
    "531119": ("renta de terrenos",),
    "531210": ("agente inmobiliario",),
    "531311": ("administración de condominios",),
    "531319": ("avalúos",),
    "532110": ("rent a car",),
    "532281": ("renta de trajes",),
    "532282": ("alquiladora", "renta de lonas"),
    "532289": ("videoclub", "renta de películas", "renta de inflables", "brincolines"),
    "532411": ("renta de maquinaria pesada", "retroexcavadora"),
    "532492": ("renta de montacargas",),
    # professional and support services
    "541110": ("despacho de abogados",),
    "541190": ("gestoría", "gestor"),
    "541211": ("despacho contable", "contador público"),
    "541219": ("nóminas",),
    "541330": ("ingeniero civil", "cálculo estructural"),
    "541340": ("planos",),
    "541370": ("topógrafo", "levantamiento topográfico"),
    "541380": ("laboratorio de suelos", "análisis de agua"),
    "541430": ("diseño de logotipos",),
    "541510": ("desarrollo de software", "programador", "soporte técnico"),
    "541610": ("consultoría empresarial",),
    "541620": ("impacto ambiental",),
    "541810": ("agencia de marketing", "mercadotecnia"),
    "541850": ("anuncios espectaculares",),
    "541870": ("volanteo", "reparto de volantes"),
    "541890": ("perifoneo",),
    "541920": ("estudio fotográfico", "fotógrafo", "video de bodas"),
    "541930": ("traductor", "perito traductor"),
    "541943": ("médico veterinario zootecnista", "MVZ"),
    "551112": ("holding",),
    "561310": ("bolsa de trabajo", "reclutamiento", "headhunter"),
    "561320": ("outsourcing",),
    "561410": ("captura de datos", "elaboración de tesis"),
    "561422": ("call center", "telemarketing"),
    "561431": ("copias", "centro de copiado", "engargolado"),
    "561432": ("cibercafé", "café internet", "ciber"),
    "561450": ("buró de crédito",),
    "561520": ("tour operador",),
    "561610": ("guardias de seguridad", "vigilancia", "guardaespaldas"),
    "561620": ("alarmas", "cámaras de seguridad", "videovigilancia"),
    "561710": ("fumigadora", "fumigación"),
    "561720": ("intendencia", "limpieza de oficinas"),
    "561730": ("jardinería", "jardinero"),
    "561740": ("lavado de salas",),
    "561790": ("lavado de cisternas", "limpieza de vidrios"),
    "561920": ("expo",),
    "562122": ("servicio de limpia", "camión recolector", "camión de la basura"),
    "562222": ("relleno sanitario", "basurero"),
    "562921": ("recicladora",),
    "562998": ("baños portátiles", "fosas sépticas"),
    # education
    "611111": ("kínder", "jardín de niños"),
    "611112": ("kínder", "jardín de niños"),
    "611151": ("carrera técnica",),
    "611152": ("CONALEP", "carrera técnica"),
    "611161": ("preparatoria", "bachillerato", "prepa"),
    "611162": ("preparatoria", "bachillerato", "prepa", "CBTIS", "Colegio de Bachilleres"),
    "611171": ("colegio particular", "escuela particular"),
    "611182": ("escuela para sordos",),
    "611212": ("universidad tecnológica",),
    "611311": ("universidad",),
    "611312": ("universidad", "instituto tecnológico"),
    "611421": ("cursos de computación",),
    "611511": ("escuela de belleza",),
    "611512": ("CECATI",),
    "611611": ("academia de baile", "escuela de música", "academia de danza", "escuela de pintura"),
    "611621": (
        "escuela de natación", "escuela de futbol", "academia de karate", "escuela de taekwondo", "clases de box",
    ),
    "611631": ("escuela de inglés", "clases de inglés"),
    "611691": ("clases particulares", "regularización"),
    "611698": ("escuela de manejo",),
    "611710": ("orientación vocacional",),
    # health and social assistance
    "621111": ("doctor", "consultorio de farmacia"),
    "621113": ("ginecólogo", "pediatra", "especialista"),
    "621116": ("centro de salud", "unidad de medicina familiar", "IMSS", "clínica del IMSS"),
    "621211": ("ortodoncista",),
    "621331": ("terapia psicológica",),
    "621341": ("fisioterapia", "rehabilitación"),
    "621398": ("homeópata", "huesero", "sobador", "podólogo"),
    "621491": ("centro de hemodiálisis",),
    "621511": ("laboratorio clínico", "análisis clínicos", "rayos x", "ultrasonido", "tomografía"),
    "621610": ("cuidado de enfermos a domicilio",),
    "621910": ("paramédicos",),
    "622111": ("clínica privada", "sanatorio"),
    "622112": ("hospital del seguro social", "IMSS", "ISSSTE"),
    "622311": ("hospital infantil",),
    "623221": ("anexo", "centro de rehabilitación para adictos"),
    "623311": ("casa de retiro", "adultos mayores"),
    "623991": ("casa hogar", "albergue"),
    "624121": ("casa de día",),
    "624191": ("alcohólicos anónimos",),
    "624198": ("centro comunitario",),
    "624211": ("comedor comunitario",),
    "624212": ("comedor comunitario",),
    "624221": ("refugio para mujeres",),
    "624411": ("estancia infantil",),
    "624412": ("estancia infantil",),
    # leisure
    "711121": ("ballet folklórico",),
    "711131": ("mariachi", "banda", "grupo versátil", "conjunto norteño"),
    "711191": ("circo", "payasos", "mago"),
    "711211": ("futbolista",),
    "711212": ("equipo de futbol",),
    "711311": ("arena de box", "lucha libre", "palenque", "plaza de toros", "estadio"),
    "711510": ("escultor", "artista plástico"),
    "712120": ("zona arqueológica", "pirámides"),
    "712131": ("acuario",),
    "712190": ("cenote",),
    "713111": ("juegos mecánicos",),
    "713113": ("aguas termales",),
    "713120": ("maquinitas", "videojuegos"),
    "713291": ("expendio de lotería",),
    "713299": ("casa de apuestas",),
    "713941": ("club de tenis", "club campestre"),
    "713942": ("unidad deportiva",),
    "713943": ("gimnasio", "gym", "crossfit"),
    "713944": ("gimnasio municipal",),
    "713992": ("liga de futbol",),
    "713998": ("go karts", "gotcha"),
    # lodging and food
    "721111": ("resort", "todo incluido"),
    "721113": ("hotel de paso",),
    "721210": ("camping", "albergue juvenil"),
    "721311": ("hostal", "cuartos en renta"),
    "721312": ("suites", "renta vacacional"),
    "722310": ("comedor industrial",),
    "722320": ("banquetes", "taquizas"),
    "722330": ("food truck", "puesto ambulante"),
    "722411": ("antro", "table dance"),
    "722412": ("pulquería", "botanero", "mezcalería", "karaoke"),
    "722511": ("fonda", "cocina económica", "restaurante familiar"),
    "722512": ("coctelería", "marisquería"),
    "722513": ("garnachas", "tlayudas"),
    "722514": ("puesto de tacos", "lonchería", "birria", "barbacoa", "carnitas", "tacos al pastor"),
    "722515": ("juguería", "café", "coffee shop"),
    "722516": ("buffet",),
    "722517": ("pollos asados", "dogos", "alitas"),
    "722518": ("comida china", "sushi"),
    "722519": ("esquites", "churrería", "elotes", "raspados", "crepas", "marquesitas"),
    # repairs and personal services
    "811111": ("taller mecánico", "mecánico"),
    "811112": ("electricidad automotriz", "autoeléctrico"),
    "811113": ("torno automotriz",),
    "811114": ("transmisiones automáticas",),
    "811119": ("radiadores",),
    "811121": ("enderezado y pintura",),
    "811129": ("parabrisas",),
    "811191": ("vulcanizadora",),
    "811192": ("autolavado", "car wash"),
    "811211": ("técnico en electrónica", "reparación de pantallas"),
    "811219": ("reparación de celulares",),
    "811410": ("reparación de lavadoras", "reparación de refrigeradores", "técnico de línea blanca"),
    "811420": ("retapizado de salas",),
    "811430": ("zapatero remendón", "zapatero"),
    "811491": ("duplicado de llaves",),
    "811492": ("taller de motos",),
    "811493": ("taller de bicicletas",),
    "811499": ("relojero", "reparación de relojes", "afilador", "arreglo de ropa"),
    "812110": ("estética", "barbería", "corte de pelo", "salón de uñas", "spa", "estilista", "manicure", "pestañas"),
    "812120": ("baños de vapor", "temazcal", "regaderas públicas"),
    "812130": ("limpiabotas",),
    "812210": ("planchaduría",),
    "812310": ("velatorio", "crematorio", "cremación"),
    "812321": ("parque funeral",),
    "812410": ("pensión de autos",),
    "812990": ("tatuajes", "perforaciones", "estética canina", "pensión para perros", "tarot", "lectura de cartas"),
    # associations and government
    "813110": ("CANACO",),
    "813130": ("barra de abogados",),
    "813210": ("capilla", "mezquita", "sinagoga", "salón del reino"),
    "813230": ("ONG", "fundación"),
    "814110": ("trabajadora doméstica", "niñera"),
    "931110": ("congreso", "cámara de diputados", "senado"),
    "931210": ("ayuntamiento", "palacio de gobierno", "presidencia municipal"),
    "931410": (
        "policía", "ministerio público", "juzgado", "bomberos", "reclusorio", "cárcel", "fiscalía", "protección civil",
    ),
    "931610": ("DIF",),
    "931710": ("oficina de pasaportes", "SRE"),
    "931810": ("ejército", "cuartel", "zona militar", "SEDENA"),
    "932110": ("ONU",),
    "932120": ("embajada", "consulado"),
}


def everyday_names(code: str, leave_out: Iterable[str] = ()) -> tuple[str, ...]:
    """The hand-written names of a class; ``leave_out``: folded words whose names are dropped (the leave-out check
    of the dev set)."""
    names = EVERYDAY_NAMES.get(code, ())
    drop = set(leave_out)
    if not drop:
        return names
    return tuple(n for n in names if not (content_words(n) & drop))


def content_words(text: str) -> set[str]:
    """Folded words of ``text`` that carry meaning (no stop words, at least 2 letters)."""
    return {t for t in tokens(text) if len(t) >= 2 and t not in STOPWORDS}


# ---------------------------------------------------------------- suffix rules
# (suffix, minimum word length): the stem left must keep at least 3 letters
_SUFFIXES = (("erias", 8), ("eria", 7), ("eros", 8), ("eras", 8), ("ero", 7), ("era", 7),
             ("citos", 8), ("citas", 8), ("cito", 7), ("cita", 7), ("itos", 7), ("itas", 7), ("ito", 6), ("ita", 6))
_SHOP_SUFFIXES = ("erias", "eria")     # what a shop is named with (see shop_words)
_AGENT = re.compile(r"^(\w{3,})(a|e|i)(dora|doras|dor|dores)$")     # purificadora, embotelladora, tostador
# an infinitive, with the pronoun people attach to it (mudarme, arreglarlo, enseñarle): the nouns Spanish derives
# from the verb name the activity (mudar -> mudanza, enseñar -> enseñanza, lavar -> lavado, instalar -> instalación,
# mantener -> mantenimiento)
_VERB = re.compile(r"^(\w{3,})(ar|er|ir)(me|te|se|nos|lo|la|le|los|las|les)?$")
_VERB_NOUNS = {"ar": ("anza", "acion", "ado", "aje"), "er": ("imiento", "ido"), "ir": ("imiento", "ido", "icion")}
# what a visitor who buys something types ("venta de clavos", "dónde compro medicinas", "tienda de ropa"): a shop
# is meant, unless the words say wholesale (mayoreo)
_BUYING = frozenset({"venta", "ventas", "vende", "venden", "vendo", "compro", "comprar", "compramos", "tienda",
                     "tiendas", "tiendita", "expendio"})
_WHOLESALE = frozenset({"mayoreo", "mayorista", "mayoristas", "mayor", "distribuidora", "distribuidor"})


def _respell(base: str) -> list[str]:
    """Stems as written before a front vowel -> as written before a back one (taqu -> tac, jugu -> jug,
    cervec -> cervez): the candidates a suffix rule may come from."""
    out = [base]
    if base.endswith("qu"):
        out.append(base[:-2] + "c")
    elif base.endswith("gu"):
        out.append(base[:-2] + "g")
    elif base.endswith("c"):
        out.append(base[:-1] + "z")
    return out


def _singulars(word: str) -> tuple[str, ...]:
    """A folded word and its singulars without *-s* or *-es* (the forms :data:`EQUIVALENTS` is looked up by)."""
    return tuple(w for w in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else "")
                 if w)


def equivalents(word: str, left_out: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The catalogue's words for one folded everyday word (:data:`EQUIVALENTS`; ``casas`` -> ``(vivienda,)``,
    ``celulares`` -> ``(telefono,)``): the word itself, else its singular without *-s* or *-es*. ``left_out``:
    entries not applied (:func:`equivalence_keys`, the leave-out check)."""
    for w in _singulars(fold(word)):
        if w in EQUIVALENTS and w not in left_out:
            return EQUIVALENTS[w]
    return ()


def equivalence_keys(words: Iterable[str]) -> frozenset[str]:
    """The :data:`EQUIVALENTS` entries looked up by any of ``words`` (folded; a word or its singular): what the
    leave-out check of a query file drops (``IndexConfig.equivalents_left_out``)."""
    return frozenset(w for word in words for w in _singulars(fold(word)) if w in EQUIVALENTS)


def base_words(word: str, left_out: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Candidate base words of one folded word (``taqueria`` -> ``(taqu, taquo, ..., taco, taca, tace)``): the
    irregular ones and the word's equivalents first, then what the suffix rules give (nothing when no rule
    applies). A shop name in *-ería* also gives the equivalents of its candidates (``zapateria`` -> ``zapato`` ->
    ``calzado``): the shop sells what people call that thing; the other suffixes do not (a *casero* is no house).
    ``left_out``: :data:`EQUIVALENTS` entries not applied (the leave-out check)."""
    word = fold(word)
    out: list[str] = [*IRREGULAR.get(word, ()), *equivalents(word, left_out)]
    for suffix, min_len in _SUFFIXES:
        if word.endswith(suffix) and len(word) >= min_len:
            for b in _respell(word[:-len(suffix)]):
                out.extend((b, b + "o", b + "a", b + "e", b + "os", b + "as", b + "es"))
            if suffix in _SHOP_SUFFIXES:
                out.extend(e for c in list(out) if c not in left_out for e in EQUIVALENTS.get(c, ()))
            break
    m = _AGENT.match(word)
    if m:
        root, vowel = m.group(1), m.group(2)
        out.extend((root + vowel + "cion", root + vowel + "do", root + vowel + "r"))
    m = _VERB.match(word)
    if m:
        root, ending = m.group(1), m.group(2)
        if m.group(3):
            out.extend((root + ending, *equivalents(root + ending, left_out)))
        out.extend(root + noun for noun in _VERB_NOUNS[ending])
    return tuple(w for w in dict.fromkeys(out) if w != word and len(w) >= 3)


def shop_words(query: str) -> list[str]:
    """The query's shop names: folded words with the *-ería* suffix (mueblería, pescadería, zapaterías). Spanish
    names a shop after what it sells with it; where the catalogue has a retail class of that thing (sector 46,
    "Comercio al por menor de muebles"), that is the establishment meant, not the factory that makes it (where it
    has none, as for tortillería, panadería or herrería, the shop is the workshop and nothing changes)."""
    return [w for w in tokens(query) if any(w.endswith(sfx) and len(w) >= n for sfx, n in _SUFFIXES
                                            if sfx in _SHOP_SUFFIXES)]


def buys_retail(query: str) -> bool:
    """Whether the query is what someone who buys types (``venta de clavos``, ``dónde compro medicinas``, ``tienda
    de ropa``) and says nothing of wholesale: then the shop selling the thing is meant, not the factory making it
    (the site ranks the retail classes first, in their own order)."""
    words = set(tokens(query))
    return bool(words & _BUYING) and not words & _WHOLESALE


def met_by(name: str, stems: set[str]) -> bool:
    """Whether every content word of ``name`` meets ``stems`` (a document's stems) exactly, as a word-family
    expansion (:func:`assets.search.text.stems_meet`) or through one of its :func:`base_words`: the rules already
    find that document for that name."""
    from assets.search.text import analyse, stems_meet

    def meets(s: str) -> bool:
        return s in stems or any(stems_meet(s, v) for v in stems)

    words = content_words(name)
    return bool(words) and all(
        any(meets(s) for s in analyse(w)) or any(meets(s) for b in base_words(w) for s in analyse(b))
        for w in words)


RETAIL_SECTOR = "46"     # SCIAN "Comercio al por menor": the classes a shop name (-ería) means when one names it
MANY_OTHER_CLASSES = 5   # a name met in its own class is still listed when its words meet this many other classes


def redundant_names(stems_by_code: dict[str, set[str]],
                    many: int = MANY_OTHER_CLASSES) -> list[tuple[str, str]]:
    """(code, name) of the hand-written names the policy leaves out: :func:`met_by` their class's own stems
    (``stems_by_code``: class code -> the stems of its text without the names) and those of fewer than ``many``
    other classes, so the rules find the class for that name without it. Empty when the list keeps the policy.

    A one-word shop name (*-ería*) of a class outside retail that a retail class's words also meet is kept: without
    it the shop rule sends the word to the shop (marisquería: the seafood restaurant, not the fish shop)."""
    out = []
    for code, names in EVERYDAY_NAMES.items():
        for name in names:
            if code not in stems_by_code or not met_by(name, stems_by_code[code]):
                continue
            if (not code.startswith(RETAIL_SECTOR) and len(content_words(name)) == 1 and shop_words(name)
                    and any(c.startswith(RETAIL_SECTOR) and met_by(name, st) for c, st in stems_by_code.items())):
                continue
            others = 0
            for other, stems in stems_by_code.items():
                if other != code and met_by(name, stems):
                    others += 1
                    if others >= many:
                        break
            if others < many:
                out.append((code, name))
    return out
