"""Deterministic sample data for the demo, written into ``landing/`` for all five applications.

Seeded and realistic (Spanish text, real CVE_GEO codes and 2020 populations for the municipalities
used), small enough to run everywhere. Real data in ``../shared/data`` goes through the same
ingestion assets by pointing a source at it (see ``pipelines.settings``).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

# Real INEGI 2020 figures (census) for the municipalities the demo uses:
# cve_geo, state, municipality, population, female, male, inhabited dwellings.
MUNICIPALITIES: list[tuple[str, str, str, int, int, int, int]] = [
    ("09015", "Ciudad de México", "Cuauhtémoc", 545884, 284933, 260951, 196593),
    ("09007", "Ciudad de México", "Iztapalapa", 1835486, 947835, 887651, 504456),
    ("14039", "Jalisco", "Guadalajara", 1385629, 718632, 666997, 398966),
    ("14120", "Jalisco", "Zapopan", 1476491, 755899, 720592, 425409),
    ("19039", "Nuevo León", "Monterrey", 1142994, 578189, 564805, 329095),
    ("08037", "Chihuahua", "Juárez", 1512450, 755473, 756977, 449602),
    ("08019", "Chihuahua", "Chihuahua", 937674, 480434, 457240, 300900),
    ("02004", "Baja California", "Tijuana", 1922523, 953783, 968740, 577011),
    ("02002", "Baja California", "Mexicali", 1049792, 520544, 529248, 330500),
    ("07089", "Chiapas", "Tapachula", 353706, 182096, 171610, 96307),
    ("07101", "Chiapas", "Tuxtla Gutiérrez", 604147, 316623, 287524, 166210),
    ("07059", "Chiapas", "Ocosingo", 234661, 118892, 115769, 46891),
    ("28032", "Tamaulipas", "Reynosa", 704767, 354406, 350361, 216245),
    ("28022", "Tamaulipas", "Matamoros", 541979, 274081, 267898, 159609),
    ("28027", "Tamaulipas", "Nuevo Laredo", 425058, 215616, 209442, 120335),
    ("26043", "Sonora", "Nogales", 264782, 132522, 132260, 78396),
    ("05025", "Coahuila de Zaragoza", "Piedras Negras", 176327, 87616, 88711, 51732),
    ("21114", "Puebla", "Puebla", 1692181, 882696, 809485, 477771),
    ("30193", "Veracruz de Ignacio de la Llave", "Veracruz", 607209, 319545, 287664, 202144),
    ("20067", "Oaxaca", "Oaxaca de Juárez", 270955, 145103, 125852, 74590),
    ("27004", "Tabasco", "Centro", 683607, 353527, 330080, 197683),
    ("11020", "Guanajuato", "León", 1721215, 874542, 846673, 440870),
    ("31050", "Yucatán", "Mérida", 995129, 515760, 479369, 303941),
    ("23005", "Quintana Roo", "Benito Juárez", 911503, 452178, 459325, 287117),
    ("15106", "México", "Toluca", 910608, 471435, 439173, 239805),
    ("25006", "Sinaloa", "Culiacán", 1003530, 512484, 491046, 281726),
    ("16053", "Michoacán de Ocampo", "Morelia", 849053, 441924, 407129, 244509),
    ("22014", "Querétaro", "Querétaro", 1049777, 535188, 514589, 305518),
    ("24028", "San Luis Potosí", "San Luis Potosí", 911908, 471011, 440897, 259503),
    ("01001", "Aguascalientes", "Aguascalientes", 948990, 486917, 462073, 266942),
]
# Municipal seat (cabecera) where its name differs from the municipality's (INEGI catalogue; the
# Mexico City boroughs have none).
SEATS = {"07089": "Tapachula de Córdova y Ordóñez", "28022": "Heroica Matamoros", "26043": "Heroica Nogales",
         "21114": "Heroica Puebla de Zaragoza", "27004": "Villahermosa", "11020": "León de los Aldama",
         "23005": "Cancún", "15106": "Toluca de Lerdo", "25006": "Culiacán Rosales",
         "22014": "Santiago de Querétaro", "09015": "", "09007": ""}
# Municipalities on migration routes get more migration news and shelters.
ROUTE = ["07089", "02004", "08037", "28032", "28022", "28027", "26043", "05025", "09015", "20067", "27004",
         "21114", "30193", "02002"]

# ---------------------------------------------------------------- crime narratives
CRIME_TYPES: dict[str, tuple[str, list[str]]] = {
    "ROBO_TRANSEUNTE": ("Robo a transeúnte", [
        "Me interceptaron {n} sujetos en la calle {calle} y con {arma} me quitaron mi {objeto}",
        "Caminaba por {calle} cuando un hombre me amenazó con {arma} y se llevó mi {objeto}",
        "Al salir del metro dos personas me rodearon, me despojaron de mi {objeto} y huyeron a pie",
        "un sujeto en motocicleta me arrebató el {objeto} mientras esperaba el camión en {calle}"]),
    "ROBO_VEHICULO": ("Robo de vehículo", [
        "Dejé estacionado mi {auto} en {calle} y al regresar ya no estaba",
        "Me quitaron mi {auto} con violencia en un semáforo de {calle}, eran {n} hombres armados",
        "robaron la camioneta de la empresa durante la noche, estaba estacionada afuera del domicilio",
        "al volver del trabajo descubrí que se habían llevado mi {auto} del estacionamiento"]),
    "ROBO_CASA": ("Robo a casa habitación", [
        "Al llegar a mi domicilio encontré la puerta forzada y faltaban {objeto} y dinero en efectivo",
        "Entraron a mi casa mientras estábamos de vacaciones, se llevaron la televisión y joyas",
        "rompieron la ventana de la cocina y sustrajeron {objeto} de la vivienda",
        "vecinos vieron a {n} sujetos salir de mi casa con bolsas, faltan aparatos electrónicos"]),
    "LESIONES": ("Lesiones", [
        "Durante una riña afuera de un bar en {calle} un sujeto me golpeó en la cara con {arma}",
        "Mi vecino me agredió con {arma} y me causó heridas en el brazo, me atendieron en la clínica",
        "fui golpeado por {n} personas a la salida del partido y tengo fractura en la mano",
        "un conductor se bajó de su auto y me golpeó hasta dejarme lesionado"]),
    "VIOLENCIA_FAMILIAR": ("Violencia familiar", [
        "Mi pareja me golpea constantemente y hoy me amenazó frente a mis hijos",
        "mi esposo llegó alcoholizado, me insultó y me empujó contra la pared de la casa",
        "mi hijo de {edad} años agrede a su madre y rompe las cosas de la casa",
        "Denuncio a mi expareja por violencia psicológica y golpes dentro del domicilio familiar"]),
    "FRAUDE": ("Fraude", [
        "Me llamaron haciéndose pasar por el banco y me pidieron los datos de mi tarjeta, después hicieron cargos por {monto} pesos",
        "Pagué {monto} pesos por un {objeto} en una página de internet y nunca me lo entregaron",
        "una persona me vendió un terreno con documentos falsos, le entregué {monto} pesos",
        "recibí un mensaje de un supuesto premio, deposité {monto} pesos y ya no contestaron"]),
    "EXTORSION": ("Extorsión", [
        "Me llamaron por teléfono diciendo que tenían secuestrado a mi hijo y exigieron {monto} pesos",
        "unos sujetos llegan cada semana a mi negocio a cobrar cuota de {monto} pesos, si no pago amenazan con quemarlo",
        "recibí mensajes amenazantes exigiendo dinero a cambio de no hacer daño a mi familia",
        "me exigen {monto} pesos mensuales por dejarme trabajar en el mercado"]),
    "AMENAZAS": ("Amenazas", [
        "Mi vecino me amenazó de muerte por un problema del estacionamiento",
        "recibo amenazas por redes sociales de una persona que dice que me va a matar",
        "un compañero de trabajo me dijo que me esperaría a la salida para hacerme daño",
        "mi expareja me manda mensajes diciendo que va a lastimar a mi familia"]),
    "DANO_PROPIEDAD": ("Daño en propiedad ajena", [
        "Un camión chocó contra la barda de mi casa y el conductor se dio a la fuga",
        "rayaron mi {auto} y le poncharon las llantas mientras estaba estacionado en {calle}",
        "vecinos rompieron los vidrios de mi negocio durante una fiesta",
        "le prendieron fuego al contenedor de basura frente a mi casa y se dañó la fachada"]),
    "HOMICIDIO": ("Homicidio", [
        "Se reporta el hallazgo de una persona sin vida con impactos de arma de fuego en {calle}",
        "mi hermano fue atacado a balazos afuera de su domicilio y falleció en el hospital",
        "encontraron el cuerpo de un hombre con huellas de violencia en un terreno baldío",
        "una persona murió después de ser apuñalada durante una pelea en {calle}"]),
}
_FILL = {
    "n": ["dos", "tres", "cuatro", "2", "3"],
    "calle": ["Av. Insurgentes", "la calle Juárez", "Calzada de Tlalpan", "Av. Reforma", "la colonia Centro",
              "Av. Revolución", "el mercado municipal", "la calle Hidalgo"],
    "arma": ["una pistola", "un cuchillo", "una navaja", "un arma de fuego", "un tubo", "una botella"],
    "objeto": ["celular", "cartera", "bolsa", "computadora portátil", "reloj", "mochila", "teléfono"],
    "auto": ["automóvil", "vehículo Nissan Versa", "camioneta", "coche", "motocicleta"],
    "edad": ["16", "17", "19", "22", "25"],
    "monto": ["5,000", "12 mil", "3,500", "20 mil", "8,000", "50 mil"],
}
_NOISE = ["", "", " los hechos ocurrieron aproximadamente a las {h} horas", " solicito que se investigue",
          " no hubo testigos", " ya había pasado antes", " cuento con video de las cámaras"]


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for key, values in _FILL.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(values), 1)
    noise = rng.choice(_NOISE).replace("{h}", str(rng.randint(0, 23)))
    text = (out + "." + noise).strip()
    if rng.random() < 0.3:  # real narratives are typed in every case
        text = text.upper() if rng.random() < 0.5 else text.lower()
    return text


# ---------------------------------------------------------------- economic activity (SCIAN classes)
ACTIVITIES: dict[str, tuple[str, list[str]]] = {
    "111110": ("Cultivo de soya", ["siembra y cosecha de soya", "cultivo de soya en temporal", "PRODUCCION DE SOYA"]),
    "112110": ("Explotación de bovinos para la producción de carne", ["cría de ganado bovino para carne", "engorda de ganado", "RANCHO GANADERO DE BOVINOS"]),
    "236111": ("Edificación de vivienda unifamiliar", ["construcción de casas habitación", "edificación de viviendas unifamiliares", "CONSTRUCTORA DE CASAS"]),
    "311812": ("Panificación tradicional", ["panadería, elaboración de pan dulce y bolillo", "elaboracion de pan tradicional", "PANADERIA"]),
    "311830": ("Elaboración de tortillas de maíz y molienda de nixtamal", ["tortillería", "elaboración de tortillas de maíz", "MOLINO DE NIXTAMAL Y TORTILLERIA"]),
    "312112": ("Purificación y embotellado de agua", ["purificadora de agua", "embotellado de agua purificada en garrafón", "PURIFICACION DE AGUA"]),
    "315225": ("Confección de prendas de vestir sobre medida", ["taller de costura de ropa sobre medida", "confección de vestidos", "SASTRERIA"]),
    "325412": ("Fabricación de preparaciones farmacéuticas", ["fabricación de medicamentos", "laboratorio farmacéutico, elaboración de tabletas", "FABRICACION DE PRODUCTOS FARMACEUTICOS"]),
    "326110": ("Fabricación de bolsas y películas de plástico flexible", ["fabricación de bolsas de plástico", "extrusión de película plástica", "FABRICA DE BOLSAS DE POLIETILENO"]),
    "332810": ("Recubrimientos y terminados metálicos", ["galvanoplastia en piezas metálicas", "cromado y niquelado de piezas", "RECUBRIMIENTOS METALICOS"]),
    "336320": ("Fabricación de equipo eléctrico y electrónico y sus partes para vehículos automotores", ["arneses eléctricos para automóviles", "ensamble de cables automotrices", "CORTE Y PROCESO DE CABLE AUTOMOTRIZ"]),
    "336390": ("Fabricación de otras partes para vehículos automotrices", ["fabricación de autopartes", "partes para automóviles, asientos y defensas", "AUTOPARTES"]),
    "461110": ("Comercio al por menor en tiendas de abarrotes, ultramarinos y misceláneas", ["tienda de abarrotes", "miscelánea", "VENTA DE ABARROTES Y REFRESCOS"]),
    "461121": ("Comercio al por menor de carnes rojas", ["carnicería", "venta de carne de res y cerdo", "CARNICERIA"]),
    "464111": ("Farmacias sin minisúper", ["farmacia", "venta de medicamentos", "FARMACIA"]),
    "467111": ("Comercio al por menor en ferreterías y tlapalerías", ["ferretería", "tlapalería, venta de herramientas", "FERRETERIA Y TLAPALERIA"]),
    "484121": ("Autotransporte foráneo de carga general", ["transporte de carga en tractocamión", "fletes foráneos", "TRANSPORTE DE CARGA"]),
    "561720": ("Servicios de limpieza de inmuebles", ["limpieza de oficinas", "servicio de intendencia", "SERVICIOS DE LIMPIEZA"]),
    "611111": ("Escuelas de educación preescolar del sector privado", ["jardín de niños particular", "preescolar privado", "KINDER"]),
    "621111": ("Consultorios de medicina general del sector privado", ["consultorio médico", "médico general", "CONSULTORIO MEDICO"]),
    "722514": ("Restaurantes con servicio de preparación de tacos y tortas", ["taquería", "venta de tacos y tortas", "TAQUERIA"]),
    "722517": ("Restaurantes con servicio de preparación de pizzas, hamburguesas, hot dogs y pollos rostizados para llevar", ["pollos rostizados", "pizzería", "VENTA DE HAMBURGUESAS"]),
    "811111": ("Reparación mecánica en general de automóviles y camiones", ["taller mecánico", "reparación de automóviles", "TALLER MECANICO AUTOMOTRIZ"]),
    "812110": ("Salones y clínicas de belleza y peluquerías", ["estética", "salón de belleza", "PELUQUERIA"]),
}
_ACT_PREFIX = ["", "", "", "negocio de ", "me dedico a ", "servicio de ", "actividad: "]
_ACT_SUFFIX = ["", "", "", " y otros", " en local propio", " al menudeo", " (negocio familiar)"]

# ---------------------------------------------------------------- news
OUTLETS = ["El Heraldo del Norte", "Diario del Sur", "La Voz de la Frontera", "Noticias MX", "El Informador Regional",
           "Crónica Migrante", "Agencia Informativa Nacional"]
NEWS_PRESENT = [
    "Un grupo de mujeres migrantes centroamericanas llegó a {mun} tras varios días de camino; entre ellas viajan {k} niñas.",
    "Autoridades de {mun} atendieron a madres migrantes con sus hijos que esperaban en la garita.",
    "Organizaciones reportan que adolescentes migrantes no acompañadas fueron canalizadas al DIF de {mun}.",
    "Una mujer migrante embarazada fue trasladada al hospital general de {mun} después de cruzar el río.",
    "En el albergue de {mun} se reporta la llegada de {k} solicitantes de asilo, entre ellas mujeres hondureñas y sus hijas.",
    "Niñas y niños migrantes permanecen en la estación migratoria de {mun}, denuncian defensores.",
    "La refugiada salvadoreña y sus dos hijas recibieron atención médica en {mun}.",
]
NEWS_ABSENT = [
    "El Instituto para las Mujeres en la Migración presentó un informe sobre políticas migratorias en {mun}.",
    "Women's Refugee Commission publicó recomendaciones para el gobierno federal; no se detallan casos en {mun}.",
    "Un grupo de hombres migrantes fue detenido en un retén carretero cerca de {mun}.",
    "El ayuntamiento de {mun} inauguró un nuevo mercado municipal y anunció obras de drenaje.",
    "Se registró un aumento en el flujo de camiones de carga en el puente internacional de {mun}.",
    "La secretaría de salud de {mun} inició la campaña de vacunación contra la influenza.",
    "Migrantes venezolanos varones esperan respuesta a su trámite migratorio en {mun}.",
    "La presidenta municipal de {mun} se reunió con empresarios para hablar de inversión.",
]

NEWS_CONTEXT = [
    "La información fue confirmada por autoridades locales el {dia} de noviembre.",
    "Vecinos de la zona relataron lo ocurrido a este medio.",
    "Las autoridades no han emitido un comunicado oficial.",
    "El reporte se dio a conocer durante la mañana del {dia}.",
    "Protección Civil informó que dará seguimiento al caso.",
    "La nota se actualizará conforme haya más información.",
    "Según datos oficiales, el flujo en la región ha variado en las últimas semanas.",
    "Organizaciones civiles pidieron atención a la situación.",
]

# ---------------------------------------------------------------- industry statistics
SECTORS = [
    ("11", "Agricultura, cría y explotación de animales, aprovechamiento forestal, pesca y caza"),
    ("21", "Minería"),
    ("23", "Construcción"),
    ("31-33", "Industrias manufactureras"),
    ("43", "Comercio al por mayor"),
    ("46", "Comercio al por menor"),
    ("48-49", "Transportes, correos y almacenamiento"),
    ("52", "Servicios financieros y de seguros"),
    ("72", "Servicios de alojamiento temporal y de preparación de alimentos y bebidas"),
    ("81", "Otros servicios excepto actividades gubernamentales"),
]
SAIC_COLUMNS = [
    "Año Censal", "Entidad", "Municipio", "Actividad económica",
    "H001A Personal ocupado total",
    "A111A Producción bruta total (millones de pesos)",
    "A121A Consumo intermedio (millones de pesos)",
    "A131A Valor agregado censal bruto (millones de pesos)",
    "A211A Inversión total (millones de pesos)",
    "A221A Formación bruta de capital fijo (millones de pesos)",
    "Q000A Acervo total de activos fijos (millones de pesos)",
    "J000A Total de remuneraciones (millones de pesos)",
    "P000A Índice de precios productor (2018=100)",
]
CENSUS_YEARS = [2003, 2008, 2013, 2018, 2023]


@dataclass(frozen=True)
class SampleSummary:
    root: str
    files: dict[str, int]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def write_municipalities(landing: Path) -> Path:
    rows = [{
        "cve_entidad": c[:2], "nom_entidad": st, "cve_municipio": c[2:], "nom_municipio": mun, "cve_completa": c,
        "nom_cabecera": SEATS.get(c, mun),
        "poblacion_total": pop, "poblacion_femenina": fem, "poblacion_masculina": male, "viviendas_habitadas": viv,
    } for c, st, mun, pop, fem, male, viv in MUNICIPALITIES]
    path = landing / "municipalities" / "municipios.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_crime_narratives(landing: Path, rng: random.Random, batches: int = 2, per_batch: int = 300) -> list[Path]:
    codes = list(CRIME_TYPES)
    weights = [18, 12, 10, 10, 12, 9, 7, 9, 8, 5]
    paths = []
    start = date(2026, 9, 1)
    for b in range(batches):
        batch = f"batch-2026-{9 + b:02d}"
        rows = []
        for i in range(per_batch):
            code = rng.choices(codes, weights)[0]
            text = _fill(rng.choice(CRIME_TYPES[code][1]), rng)
            coded = rng.random() < 0.7  # coders assigned a type to part of them
            rows.append([f"CN-{b + 1:02d}-{i:05d}", text, code if coded else "",
                         (start + timedelta(days=30 * b + rng.randint(0, 29))).isoformat(),
                         rng.choice(MUNICIPALITIES)[0]])
        path = landing / "crime_narratives" / batch / "narrativas.csv"
        _write_csv(path, ["record_id", "narrative", "crime_code", "reported_date", "cve_geo"], rows)
        paths.append(path)
    return paths


def write_economic_activity(landing: Path, rng: random.Random, batches: int = 2, per_batch: int = 400) -> list[Path]:
    codes = list(ACTIVITIES)
    paths = []
    for b in range(batches):
        batch = f"censo-lote-{b + 1:02d}"
        rows = []
        for i in range(per_batch):
            code = rng.choice(codes)
            title, variants = ACTIVITIES[code]
            text = rng.choice(_ACT_PREFIX) + rng.choice(variants) + rng.choice(_ACT_SUFFIX)
            if rng.random() < 0.2:
                text = text.upper()
            mun = rng.choice(MUNICIPALITIES)
            coded = rng.random() < 0.75
            rows.append([f"EA-{b + 1:02d}-{i:05d}", 2024 + b, text, code if coded else "", title if coded else "",
                         mun[1].upper(), mun[2]])
        path = landing / "economic_activity_text" / batch / "respuestas.csv"
        _write_csv(path, ["record_id", "year", "text", "code", "code_title", "state", "municipality"], rows)
        paths.append(path)
    return paths


def write_news(landing: Path, rng: random.Random, days: int = 14, per_day: int = 9) -> list[Path]:
    by_code = {m[0]: m for m in MUNICIPALITIES}
    paths = []
    start = date(2026, 11, 1)
    n = 0
    for d in range(days):
        day = start + timedelta(days=d)
        items = []
        for _ in range(per_day):
            on_route = rng.random() < 0.75
            cve = rng.choice(ROUTE) if on_route else rng.choice(MUNICIPALITIES)[0]
            present = rng.random() < (0.45 if on_route else 0.1)
            template = rng.choice(NEWS_PRESENT if present else NEWS_ABSENT)
            mun_name = by_code[cve][2]
            text = template.replace("{mun}", mun_name).replace("{k}", str(rng.randint(2, 30)))
            # Reporters add context of their own, so two stories on the same event read differently.
            text = f"{text} {rng.choice(NEWS_CONTEXT)}".replace("{dia}", str(day.day))
            items.append({
                "id": f"nota-{n:05d}", "date": day.isoformat(), "title": text.split(";")[0][:80],
                "text": text, "url": f"https://noticias.example.mx/{day.isoformat()}/{n}",
                "outlet": rng.choice(OUTLETS), "cve_geo": cve,
            })
            n += 1
        # The same story syndicated by a second outlet: silver deduplicates it by text hash.
        if items:
            dup = dict(items[0], id=f"nota-{n:05d}", url=items[0]["url"] + "?utm=rss", outlet=rng.choice(OUTLETS))
            items.append(dup)
            n += 1
        path = landing / "news" / f"{day.isoformat()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def write_shelters(landing: Path, rng: random.Random) -> Path:
    operators = ["Casa del Migrante (sociedad civil)", "DIF municipal", "Iglesia católica", "Gobierno estatal",
                 "Asociación civil"]
    rows = []
    i = 0
    for cve in ROUTE:
        for _ in range(rng.randint(1, 3)):
            mun = next(m for m in MUNICIPALITIES if m[0] == cve)
            rows.append([f"ALB-{i:03d}", f"Albergue {rng.choice(['San José', 'Belén', 'Buen Pastor', 'La 72', 'Nazareth', 'Frontera Digna'])} {mun[2]}",
                         cve, rng.choice([40, 60, 80, 120, 150, 200, 300]), rng.choice(operators)])
            i += 1
    path = landing / "migrant_shelters" / "albergues.csv"
    _write_csv(path, ["shelter_id", "name", "cve_geo", "capacity", "operator"], rows)
    return path


def write_industry_stats(landing: Path, rng: random.Random) -> Path:
    geos = [("00 Total Nacional", "", 1.0), ("28 Tamaulipas", "", 0.035), ("28 Tamaulipas", "032 Reynosa", 0.009),
            ("28 Tamaulipas", "022 Matamoros", 0.007), ("28 Tamaulipas", "038 Tampico", 0.006)]
    base_emp = {"11": 240e3, "21": 170e3, "23": 700e3, "31-33": 5.8e6, "43": 1.4e6, "46": 6.4e6, "48-49": 800e3,
                "52": 420e3, "72": 2.2e6, "81": 1.8e6}
    # value added per worker in 2003, millions of pesos (grows ~4 % a year): manufacturing ~0.3 million then,
    # ~0.65 million in 2023, the order of the real census (0.59 million)
    productivity = {"11": 0.08, "21": 2.5, "23": 0.15, "31-33": 0.3, "43": 0.3, "46": 0.1, "48-49": 0.2,
                    "52": 0.8, "72": 0.07, "81": 0.05}
    rows = []
    for entity, mun, share in geos:
        for code, title in SECTORS:
            growth = rng.uniform(0.005, 0.04)
            for y in CENSUS_YEARS:
                t = (y - 2003) / 5
                emp = base_emp[code] * share * (1 + growth) ** (5 * t) * rng.uniform(0.95, 1.05)
                # millions of pesos, as the SAIC delivers them
                va = emp * productivity[code] * (1.04 ** (5 * t)) * rng.uniform(0.9, 1.1)
                ci = va * rng.uniform(0.6, 2.2)
                go = va + ci
                rem = va * rng.uniform(0.25, 0.45)
                inv = va * rng.uniform(0.02, 0.12)
                fbcf = inv * rng.uniform(0.8, 1.0)
                assets = va * rng.uniform(0.8, 3.0)
                price = 100 * (1.045 ** (y - 2018)) * rng.uniform(0.97, 1.03)
                values = [round(emp), round(go, 3), round(ci, 3), round(va, 3), round(inv, 3), round(fbcf, 3),
                          round(assets, 3), round(rem, 3), round(price, 2)]
                # Confidentiality: small cells are not published (blank), exactly as INEGI does.
                if mun and code in ("21", "52") and rng.random() < 0.6:
                    values = [values[0]] + [""] * 6 + ["", values[-1]]
                rows.append([y, entity, mun, f"Sector {code} {title}", *values])
    path = landing / "industry_stats" / "saic_muestra.csv"
    _write_csv(path, SAIC_COLUMNS, rows)
    return path


def write_scian_catalog(landing: Path) -> Path:
    """The SCIAN rows the demo needs: every sector, and the full path down to each class used."""
    rows: dict[str, tuple[str, str]] = {code: (title, "sector") for code, title in SECTORS}
    level_names = {3: "subsector", 4: "rama", 5: "subrama", 6: "clase"}
    for code, (title, _) in ACTIVITIES.items():
        rows.setdefault(code[:2], (f"Sector {code[:2]}", "sector"))
        for digits in (3, 4, 5):
            rows.setdefault(code[:digits], (f"{title} ({level_names[digits]} {code[:digits]})", level_names[digits]))
        rows[code] = (title, "clase")
    path = landing / "scian_catalog" / "scian_muestra.csv"
    _write_csv(path, ["codigo", "titulo", "nivel"], [[c, t, n] for c, (t, n) in sorted(rows.items())])
    return path


def synthetic_scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """A 4-band (blue, green, red, NIR) uint16 scene with fields, water, a road and roofs."""
    yy, xx = np.mgrid[0:size, 0:size]
    bands = np.zeros((4, size, size), dtype=np.float32)
    # bare soil background
    bands[:] = np.array([900, 1100, 1400, 1900], dtype=np.float32)[:, None, None]
    # vegetated fields: rectangular parcels with high NIR
    for _ in range(6):
        y0, x0 = rng.integers(0, size - 60, 2)
        h, w = rng.integers(30, 90, 2)
        sl = (slice(y0, y0 + h), slice(x0, x0 + w))
        bands[0][sl], bands[1][sl], bands[2][sl], bands[3][sl] = 500, 800, 600, 3200
    # a lake / coast: an ellipse of water (low NIR, green > NIR)
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    water = ((yy - cy) / (size * 0.18)) ** 2 + ((xx - cx) / (size * 0.25)) ** 2 < 1
    bands[0][water], bands[1][water], bands[2][water], bands[3][water] = 700, 650, 400, 200
    # a road: a bright diagonal strip
    road = np.abs((yy - xx * 0.6) - size * 0.1) < 3
    bands[0][road], bands[1][road], bands[2][road], bands[3][road] = 1700, 1750, 1800, 2000
    # roofs: small bright squares
    for _ in range(12):
        y0, x0 = rng.integers(0, size - 12, 2)
        s = int(rng.integers(5, 12))
        sl = (slice(y0, y0 + s), slice(x0, x0 + s))
        bands[0][sl], bands[1][sl], bands[2][sl], bands[3][sl] = 2400, 2300, 2500, 2600
    bands += rng.normal(0, 40, bands.shape).astype(np.float32)
    return np.clip(bands, 1, 10000).astype(np.uint16)


def write_tiles(landing: Path, seed: int, n_tiles: int = 3, size: int = 256) -> list[Path]:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n_tiles):
        data = synthetic_scene(size, rng)
        # UTM zone 14N, around the Bajío; 10 m pixels like Sentinel-2.
        transform = from_origin(230000 + i * size * 10, 2310000, 10, 10)
        path = landing / "tiles" / "escena-001" / f"tile_{i:02d}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=4, dtype="uint16",
                           crs="EPSG:32614", transform=transform) as dst:
            dst.write(data)
            dst.descriptions = ("blue", "green", "red", "nir")
        paths.append(path)
    return paths


def generate(landing_root: str | Path, seed: int = 7) -> SampleSummary:
    """Write the whole sample landing zone (idempotent: same seed, same bytes)."""
    landing = Path(landing_root)
    files: dict[str, int] = {
        "municipalities": len([write_municipalities(landing)]),
        "scian_catalog": len([write_scian_catalog(landing)]),
        "crime_narratives": len(write_crime_narratives(landing, random.Random(seed + 1))),
        "economic_activity_text": len(write_economic_activity(landing, random.Random(seed + 2))),
        "news": len(write_news(landing, random.Random(seed + 3))),
        "migrant_shelters": len([write_shelters(landing, random.Random(seed + 4))]),
        "industry_stats": len([write_industry_stats(landing, random.Random(seed + 5))]),
        "tiles": len(write_tiles(landing, seed + 6)),
    }
    return SampleSummary(str(landing), files)
